import { EventEmitter } from 'node:events';
import { DataChannel } from '../channel/data-channel.ts';
import type { FrameTransport } from '../channel/transport.ts';
import { FlagCode, PayloadType } from '../protocol/constants.ts';
import { decodeHandshakeComplete, decodeHandshakeRequest, encodeFlag } from '../protocol/payloads.ts';
import { connectWebSocket, type Liveness } from '../transport/websocket-transport.ts';
import { ConnectionKeeper, type Connector } from './connection-keeper.ts';
import type { SessionApi, SessionOutcome, SessionParameters, SessionState } from './session-contract.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { HandshakeError, SessionError } from './errors.ts';
import { answerHandshake, type NegotiatedSession, type SessionType } from './handshake.ts';
import type { SessionIO } from './io.ts';
import type { EndRequest, HandlerContext, SessionHandler } from './session-handler.ts';
import { ShellHandler } from './shell-handler.ts';
import { createPortHandler } from './port/port-handler.ts';
import type { SessionEncryption } from './session-encryption.ts';

export interface PluginSessionOptions extends SessionParameters {
  io: SessionIO;
  /** Printed once the right stream for it is known (stdout, or stderr in ssh mode, Q11). */
  banner?: string;
  logger?: Logger;
  connect?: Connector;
  api?: SessionApi;
  /** WebSocket liveness: ping interval and silence limit. */
  liveness?: Liveness;
  /** Give up when the agent acknowledges nothing for this long while connected (default 5 min). */
  stallTimeoutMs?: number;
  /** Attempts for the first connection (the official client makes 6). */
  connectAttempts?: number;
  /** Handles a KMSEncryption request; without it such sessions are refused. */
  encryption?: SessionEncryption;
  /** The command's ExitCode payload becomes our exit status instead of being printed (§7.2). */
  exitStatusFromRemote?: boolean;
  /**
   * Builds the handler for a negotiated session instead of the built-in ones (library use:
   * e.g. port streams handed to the caller instead of a local listener). Returning
   * undefined falls back to the built-in handler for that session type.
   */
  handlerFactory?: (context: HandlerContext, session: NegotiatedSession) => SessionHandler | undefined;
}

/** How long an exit waits for the TerminateSession API call. */
const TERMINATE_WAIT_MS = 5000;
/** How long an exit waits for the agent to acknowledge the TerminateSession flag. */
const FLAG_ACK_WAIT_MS = 2000;

type HandlerFactory = (context: HandlerContext) => SessionHandler;

const HANDLERS: Record<SessionType, HandlerFactory> = {
  Standard_Stream: (context) => new ShellHandler(context),
  InteractiveCommands: (context) => new ShellHandler(context),
  NonInteractiveCommands: (context) => new ShellHandler(context),
  Port: (context) => createPortHandler(context),
};

/**
 * One plugin session: connects the data channel, learns the session type (handshake or
 * first output, §5), runs the matching handler, and resolves when the session ends.
 *
 * Events: 'state' (SessionState), 'handler' (SessionHandler, NegotiatedSession) once the
 * session type is known and its handler started.
 */
export class PluginSession extends EventEmitter {
  readonly channel: DataChannel;
  private readonly options: PluginSessionOptions;
  private readonly log: Logger;
  private readonly connection: ConnectionKeeper;
  private handler: SessionHandler | undefined;
  private negotiated: NegotiatedSession | undefined;
  private handshakeStarted = false;
  private bannerShown = false;
  private noticeStream: NodeJS.WritableStream;
  private finished = false;
  private ending = false;
  private terminateApiPending = false;
  private terminating: Promise<void> | undefined;
  private remoteExitCode: number | undefined;
  private resolveOutcome: (outcome: SessionOutcome) => void = () => {};
  private currentState: SessionState = 'connecting';

  constructor(options: PluginSessionOptions) {
    super();
    this.options = options;
    this.log = options.logger ?? silentLogger;
    this.channel = new DataChannel({ logger: this.log, stallTimeoutMs: options.stallTimeoutMs });
    const api = options.api;
    this.connection = new ConnectionKeeper({
      sessionId: options.sessionId,
      tokenValue: options.tokenValue,
      streamUrl: options.streamUrl,
      connect: options.connect ?? ((url, open) => connectWebSocket(url, { openDataChannel: open, liveness: options.liveness })),
      resume: api?.resumeSession ? (id) => api.resumeSession!(id) : undefined,
      logger: this.log,
      firstAttempts: options.connectAttempts,
    });
    this.noticeStream = options.io.stdout;
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** The session-type handler, once the handshake has chosen it. */
  get activeHandler(): SessionHandler | undefined {
    return this.handler;
  }

  /** The session type the handshake named (undefined before it, or without one). */
  get sessionType(): SessionType | undefined {
    return this.negotiated?.sessionType;
  }

  /** Reconnections made so far (each one a ResumeSession plus a new WebSocket). */
  get reconnects(): number {
    return this.connection.reconnects;
  }

  private setState(state: SessionState): void {
    if (this.currentState === state || this.currentState === 'closed') return;
    this.currentState = state;
    this.emit('state', state);
  }

  /** Where user-facing messages go (stderr once stdout carries session data). */
  get notices(): NodeJS.WritableStream {
    return this.noticeStream;
  }

  private notice(text: string): void {
    this.showBanner();
    this.noticeStream.write(text);
  }

  private showBanner(): void {
    if (this.bannerShown || !this.options.banner) return;
    this.bannerShown = true;
    this.noticeStream.write(this.options.banner);
  }

  run(): Promise<SessionOutcome> {
    // A person sees the banner at once; a program reading stdout gets it on the right stream.
    if (this.options.io.stdout.isTTY) this.showBanner();
    const outcome = new Promise<SessionOutcome>((resolve) => (this.resolveOutcome = resolve));
    this.channel.setHandler(this.negotiate);
    this.channel.on('channel_closed', (output: string) =>
      this.finish({ status: 'closed', output, ...(this.remoteExitCode === undefined ? {} : { exitCode: this.remoteExitCode }) }),
    );
    this.channel.on('cipher_error', () =>
      this.fail('data from the agent failed decryption (wrong key or tampered data); the session was ended', true),
    );
    this.channel.on('stalled', () => this.fail('the agent stopped acknowledging data; giving up', true));
    this.connection.on('transport', (transport: FrameTransport, resumed: boolean) => this.onTransport(transport, resumed));
    this.connection.on('lost', (reason: string) => this.onConnectionLost(reason));
    this.connection.on('failed', (error: SessionError) => this.fail(error, true));
    this.connection.start();
    return outcome;
  }

  /** A signal the CLI caught: the handler's business (forward, or end cleanly), else the end. */
  signal(name: NodeJS.Signals): void {
    if (this.handler?.signal(name)) return;
    this.end(`${name} received`, true);
  }

  /** Ends the session from this side, optionally telling the service. */
  end(reason: string, terminate: boolean): void {
    if (terminate) void this.terminateRemote();
    this.finish({ status: 'ended', reason });
  }

  /** The TerminateSession flag (acked, bounded wait), then optionally the API call. */
  private async endWith(request: EndRequest): Promise<void> {
    if (this.finished || this.ending) return;
    this.ending = true;
    this.log.debug(`ending session: ${request.reason}`);
    this.terminateApiPending = request.terminateApi ?? false;
    if (request.terminateFlag) {
      this.channel.send(PayloadType.Flag, encodeFlag(FlagCode.TerminateSession));
      const delivered = await this.channel.flushed(FLAG_ACK_WAIT_MS);
      this.log.debug(delivered ? 'TerminateSession flag acknowledged' : 'TerminateSession flag not acknowledged in time');
    }
    this.end(request.reason, request.terminateApi ?? false);
  }

  private onTransport(transport: FrameTransport, resumed: boolean): void {
    this.channel.attach(transport);
    this.log.debug(resumed ? 'data channel reopened' : 'data channel open');
    this.setState('connected');
    if (resumed) this.options.io.stderr.write('Connection re-established.\n');
  }

  private onConnectionLost(reason: string): void {
    this.log.debug(reason);
    this.channel.detach();
    this.setState('reconnecting');
    this.options.io.stderr.write(`\nConnection to the session lost; re-establishing it...\n`);
  }

  /** Payload handler used until the session type is known (§5.1 step 4). */
  private readonly negotiate = (payloadType: number, payload: Buffer): boolean => {
    switch (payloadType) {
      case PayloadType.HandshakeRequest:
        this.onHandshakeRequest(payload);
        return true;
      case PayloadType.HandshakeComplete:
        this.onHandshakeComplete(payload);
        return true;
      case PayloadType.EncChallengeRequest:
        this.onEncryptionChallenge(payload);
        return true;
      case PayloadType.Output:
        if (this.handshakeStarted) return false;
        // No handshake: a plain shell whose first frame is output (§5.2).
        this.startHandler({ agentVersion: '', sessionType: 'Standard_Stream', properties: null });
        return this.handler?.receive(payloadType, payload) ?? false;
      default:
        return false;
    }
  };

  private onHandshakeRequest(payload: Buffer): void {
    const request = decodeHandshakeRequest(payload);
    if (!request) return this.log.debug('ignored an unreadable HandshakeRequest');
    this.handshakeStarted = true;
    const encryption = this.options.encryption;
    const processors = encryption ? { KMSEncryption: (parameters: unknown) => encryption.processAction(parameters) } : {};
    answerHandshake(request, processors)
      .then(async ({ response, session }) => {
        this.negotiated = session;
        this.log.debug(`handshake: agent ${session.agentVersion}, session type ${session.sessionType ?? 'unknown'}`);
        if (encryption?.active) this.channel.setCipher(encryption.cipher());
        this.channel.send(PayloadType.HandshakeResponse, Buffer.from(JSON.stringify(response)));
        if (response.Errors) {
          // The agent cancels the session; tell the user why, once, after it has the answer.
          await this.channel.flushed(FLAG_ACK_WAIT_MS);
          this.fail(response.Errors.join('; '), false);
        }
      })
      .catch((err: unknown) => this.fail(new HandshakeError(message(err), { cause: err }), true));
  }

  private onEncryptionChallenge(payload: Buffer): void {
    const encryption = this.options.encryption;
    try {
      if (!encryption?.active) throw new Error('no KMS key was negotiated');
      this.channel.send(PayloadType.EncChallengeResponse, encryption.answerChallenge(payload));
    } catch (err) {
      this.fail(`the encryption challenge failed: ${message(err)}`, true);
    }
  }

  private onHandshakeComplete(payload: Buffer): void {
    const complete = decodeHandshakeComplete(payload);
    const negotiated = this.negotiated;
    if (!negotiated?.sessionType) {
      this.fail('the agent completed a handshake without a usable session type', true);
      return;
    }
    this.startHandler(negotiated, complete?.CustomerMessage ?? '');
  }

  private startHandler(session: NegotiatedSession, customerMessage = ''): void {
    if (this.handler || this.finished) return;
    const builtIn = session.sessionType ? HANDLERS[session.sessionType] : undefined;
    if (!builtIn) {
      this.fail(`session type ${session.sessionType} is not supported by this client`, true);
      return;
    }
    const context: HandlerContext = {
      sessionId: this.options.sessionId,
      channel: this.channel,
      io: this.options.io,
      logger: this.log,
      agentVersion: session.agentVersion,
      properties: session.properties,
      notice: (text) => this.notice(text),
      exitStatusFromRemote: this.options.exitStatusFromRemote ?? false,
      reportExitCode: (code) => (this.remoteExitCode = code),
      end: (request) => void this.endWith(request),
      fail: (reason) => this.fail(reason, true),
    };
    const handler = this.options.handlerFactory?.(context, session) ?? builtIn(context);
    this.handler = handler;
    if (handler.dataOnStdout) this.noticeStream = this.options.io.stderr;
    this.showBanner();
    if (customerMessage) this.notice(`${customerMessage}\n`);
    this.channel.setHandler((type, data) => handler.receive(type, data));
    Promise.resolve()
      .then(() => handler.start())
      .then(
        () => {
          this.emit('handler', handler, session);
          this.channel.deliverPending();
        },
        (err: unknown) => this.fail(message(err), true),
      );
  }

  private fail(reason: string | SessionError, terminate: boolean): void {
    if (terminate) void this.terminateRemote();
    this.finish({ status: 'failed', error: reason instanceof SessionError ? reason : new SessionError(reason) });
  }

  /** Calls TerminateSession once; finish() waits for it, at most a few seconds. */
  private terminateRemote(): Promise<void> {
    const api = this.options.api;
    if (!api) return Promise.resolve();
    this.terminating ??= Promise.race([
      api.terminateSession(this.options.sessionId).catch((err: unknown) => {
        this.log.debug(`TerminateSession failed: ${message(err)}`);
      }),
      new Promise<void>((resolve) => setTimeout(resolve, TERMINATE_WAIT_MS).unref()),
    ]);
    return this.terminating;
  }

  private finish(outcome: SessionOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.setState('closed');
    // channel_closed may overtake the acknowledgement of our TerminateSession flag.
    if (this.terminateApiPending) void this.terminateRemote();
    this.showBanner();
    this.handler?.stop();
    this.channel.close();
    this.connection.stop();
    this.log.debug(`session finished: ${outcome.status}; stats ${JSON.stringify(this.channel.stats)}`);
    const settled = this.terminating ?? Promise.resolve();
    void settled.then(() => this.resolveOutcome(outcome));
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
