import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import type { FrameTransport } from '../channel/transport.ts';
import { CLIENT_VERSION } from '../protocol/constants.ts';
import { newUuid } from '../protocol/uuid.ts';
import type { Logger } from '../util/logger.ts';
import { SessionError } from './errors.ts';
import { ResumeRefusedError, type ResumedSession } from './session-contract.ts';
import { ConfigurationError } from '../net/tls-trust.ts';
import { UntrustedCertificateError } from '../transport/websocket-transport.ts';

export type Connector = (streamUrl: string, openDataChannel: string) => Promise<FrameTransport>;

/** ResumeSession, or undefined when this session cannot call the API (no reconnect). */
export type Resume = ((sessionId: string) => Promise<ResumedSession>) | undefined;

export interface ConnectionKeeperOptions {
  sessionId: string;
  tokenValue: string;
  streamUrl: string;
  connect: Connector;
  resume: Resume;
  logger: Logger;
  /** Attempts for the first connection (the official client makes 6). */
  firstAttempts?: number;
  /** Longest pause between reconnect attempts. */
  maxBackoffMs?: number;
}

/** A connection the service closes sooner than this, with nothing received, counts as a failed attempt. */
const FRUITLESS_CONNECTION_MS = 5000;

/** Connect errors that the same attempt would meet again: a bad setting, an untrusted server. */
function finalConnectError(err: unknown): boolean {
  return err instanceof ConfigurationError || err instanceof UntrustedCertificateError;
}

/**
 * Owns the data channel's connection: the first connect (with the official retry
 * schedule), and after a loss, ResumeSession plus a new connection with the new token,
 * retried with backoff for as long as the service says the session is alive.
 *
 * Events: 'transport' (FrameTransport, resumed: boolean), 'lost' (reason: string),
 * 'failed' (SessionError).
 */
export class ConnectionKeeper extends EventEmitter {
  readonly clientId = newUuid();
  reconnects = 0;
  private readonly options: ConnectionKeeperOptions;
  private readonly log: Logger;
  private tokenValue: string;
  private streamUrl: string;
  private current: FrameTransport | undefined;
  private everConnected = false;
  /**
   * Reconnects in a row whose connection the service closed on purpose, soon and before
   * anything arrived on it (it accepts the socket, then refuses the channel). Those count
   * as failed attempts, so the backoff keeps growing instead of restarting: otherwise a
   * tight loop of ResumeSession calls. A connection that merely breaks is retried at once.
   */
  private fruitless = 0;
  private stopped = false;
  private readonly backoffBase = 100 + randomInt(100);

  constructor(options: ConnectionKeeperOptions) {
    super();
    this.options = options;
    this.log = options.logger;
    this.tokenValue = options.tokenValue;
    this.streamUrl = options.streamUrl;
  }

  start(): void {
    void this.connectFirst();
  }

  /** Closes the current connection and gives up any reconnecting. */
  stop(): void {
    this.stopped = true;
    this.current?.close();
    this.current = undefined;
  }

  private openDataChannel(): string {
    // Field order as the official client writes it (§2.2); a new RequestId every time.
    return JSON.stringify({
      MessageSchemaVersion: '1.0',
      RequestId: newUuid(),
      TokenValue: this.tokenValue,
      ClientId: this.clientId,
      ClientVersion: CLIENT_VERSION,
    });
  }

  private async connectFirst(): Promise<void> {
    const attempts = this.options.firstAttempts ?? 6;
    for (let attempt = 0; ; attempt++) {
      try {
        this.use(await this.options.connect(this.streamUrl, this.openDataChannel()), false);
        return;
      } catch (err) {
        if (this.stopped) return;
        if (finalConnectError(err) || attempt + 1 >= attempts) return void this.emit('failed', new SessionError(message(err)));
        this.log.debug(`connect attempt ${attempt + 1} failed: ${message(err)}`);
        await this.pause(attempt);
      }
    }
  }

  private use(transport: FrameTransport, resumed: boolean): void {
    if (this.stopped) return void transport.close();
    this.current = transport;
    const openedAt = performance.now();
    let heard = false;
    transport.once('frame', () => {
      heard = true;
      this.everConnected = true;
      this.fruitless = 0;
    });
    transport.once('close', (err?: Error) => {
      // Refused: closed by the service, soon, with nothing received. Not a long idle
      // connection, and not one the network broke.
      const refused = !heard && transport.closeCode !== undefined && performance.now() - openedAt < FRUITLESS_CONNECTION_MS;
      this.fruitless = refused ? this.fruitless + 1 : 0;
      this.onClose(transport, err);
    });
    this.emit('transport', transport, resumed);
  }

  private onClose(transport: FrameTransport, err: Error | undefined): void {
    if (this.stopped || transport !== this.current) return;
    this.current = undefined;
    const detail = err ? `: ${err.message}` : '';
    if (!this.everConnected) {
      // Nothing ever arrived on the first connection: the service refused us (e.g. the token).
      this.emit('failed', new SessionError(`the service closed the data channel before the session started${detail}`));
      return;
    }
    if (!this.options.resume) {
      this.emit('failed', new SessionError(`the connection to the session was lost${detail}`));
      return;
    }
    this.emit('lost', `connection lost${detail}`);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    const resume = this.options.resume!;
    const first = this.fruitless;
    if (first > 0) {
      this.log.debug(`the service closed the last ${first} connection(s) before anything arrived; backing off`);
      await this.pause(first - 1);
    }
    for (let attempt = first; !this.stopped; attempt++) {
      try {
        const resumed = await resume(this.options.sessionId);
        if (!resumed.tokenValue) {
          // The official client's words (§6.7).
          this.emit('failed', new SessionError(`Session: ${this.options.sessionId} timed out.`, { verbatim: true }));
          return;
        }
        this.tokenValue = resumed.tokenValue;
        // The official client ignores a new StreamUrl (Q13); we follow it.
        if (resumed.streamUrl) this.streamUrl = resumed.streamUrl;
        const transport = await this.options.connect(this.streamUrl, this.openDataChannel());
        this.reconnects++;
        this.log.debug(`reconnected after ${attempt - first + 1} attempt(s)`);
        this.use(transport, true);
        return;
      } catch (err) {
        if (this.stopped) return;
        // A bad setting also stops the new connection (an unreadable AWS_CA_BUNDLE).
        if (err instanceof ResumeRefusedError || err instanceof ConfigurationError) {
          this.emit('failed', new SessionError(`the session cannot be resumed: ${message(err)}`));
          return;
        }
        this.log.debug(`reconnect attempt ${attempt - first + 1} failed: ${(err as { name?: string }).name ?? 'error'}: ${message(err)}`);
        await this.pause(attempt);
      }
    }
  }

  /** The official schedule: a 100-199 ms base doubled per attempt, here capped rather than reset. */
  private pause(attempt: number): Promise<void> {
    const delay = Math.min(this.options.maxBackoffMs ?? 5000, this.backoffBase * 2 ** Math.min(attempt, 16));
    return new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
