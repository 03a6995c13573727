import { EventEmitter } from 'node:events';
import { DataChannel } from '../channel/data-channel.ts';
import type { FrameTransport } from '../channel/transport.ts';
import { connectWebSocket, type Liveness } from '../transport/websocket-transport.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { ConnectionKeeper, type Connector } from './connection-keeper.ts';
import { SessionError } from './errors.ts';
import { builtInHandler } from './handler-registry.ts';
import type { NegotiatedSession, SessionType } from './handshake.ts';
import type { SessionIO } from './io.ts';
import { Negotiation } from './negotiation.ts';
import type { SessionApi, SessionOutcome, SessionParameters, SessionState } from './session-contract.ts';
import type { SessionEncryption } from './session-encryption.ts';
import type { EndRequest, HandlerContext, SessionHandler } from './session-handler.ts';
import type { SessionNotice } from './session-notice.ts';
import { OutcomeLatch } from './session-outcome.ts';
import { Termination } from './termination.ts';

export interface SessionEngineOptions extends SessionParameters {
  /** The local streams the handlers work with (session data only: notices are events). */
  io: SessionIO;
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

/**
 * The engine under the plugin and the library: connects the data channel (and keeps it
 * connected), learns the session type (Negotiation), runs the matching handler, ends
 * the session (Termination) and settles its outcome. It never prints: what a person
 * should hear about is a 'notice' event, for the CLIs to show.
 *
 * Events: 'state' (SessionState); 'negotiated' (SessionHandler, NegotiatedSession) once
 * the session type is known, before its handler starts; 'handler' (SessionHandler,
 * NegotiatedSession) once it has started; 'notice' (SessionNotice).
 */
export class SessionEngine extends EventEmitter {
  readonly channel: DataChannel;
  private readonly options: SessionEngineOptions;
  private readonly log: Logger;
  private readonly connection: ConnectionKeeper;
  private readonly negotiation: Negotiation;
  private readonly termination: Termination;
  private readonly outcome = new OutcomeLatch();
  private handler: SessionHandler | undefined;
  private ending = false;
  private terminateApiPending = false;
  private currentState: SessionState = 'connecting';

  constructor(options: SessionEngineOptions) {
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
    this.termination = new Termination({ sessionId: options.sessionId, channel: this.channel, api, logger: this.log });
    this.negotiation = new Negotiation({
      channel: this.channel,
      logger: this.log,
      encryption: options.encryption,
      choose: (session, customerMessage) => this.startHandler(session, customerMessage),
      fail: (error, terminate) => this.fail(error, terminate),
    });
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
    return this.negotiation.session?.sessionType;
  }

  /** Reconnections made so far (each one a ResumeSession plus a new WebSocket). */
  get reconnects(): number {
    return this.connection.reconnects;
  }

  /** Starts the session; resolves when it is over (never rejects). */
  run(): Promise<SessionOutcome> {
    this.channel.setHandler(this.negotiation.receive);
    this.channel.on('channel_closed', (output: string) => this.finish(this.outcome.closed(output)));
    this.channel.on('cipher_error', () =>
      this.fail(new SessionError('data from the agent failed decryption (wrong key or tampered data); the session was ended'), true),
    );
    this.channel.on('stalled', () => this.fail(new SessionError('the agent stopped acknowledging data; giving up'), true));
    this.connection.on('transport', (transport: FrameTransport, resumed: boolean) => this.onTransport(transport, resumed));
    this.connection.on('lost', (reason: string) => this.onConnectionLost(reason));
    this.connection.on('failed', (error: SessionError) => this.fail(error, true));
    this.connection.start();
    return this.outcome.promise;
  }

  /** A signal the CLI caught: the handler's business (forward, or end cleanly), else the end. */
  signal(name: NodeJS.Signals): void {
    if (this.handler?.signal(name)) return;
    this.end(`${name} received`, true);
  }

  /** Ends the session from this side, optionally telling the service. */
  end(reason: string, terminate: boolean): void {
    if (terminate) void this.termination.callApi();
    this.finish({ status: 'ended', reason });
  }

  private setState(state: SessionState): void {
    if (this.currentState === state || this.currentState === 'closed') return;
    this.currentState = state;
    this.emit('state', state);
  }

  private notify(notice: SessionNotice): void {
    this.emit('notice', notice);
  }

  /** A handler's end: the TerminateSession flag first when asked (acked, bounded wait). */
  private async endWith(request: EndRequest): Promise<void> {
    if (this.outcome.settled || this.ending) return;
    this.ending = true;
    this.log.debug(`ending session: ${request.reason}`);
    this.terminateApiPending = request.terminateApi ?? false;
    if (request.terminateFlag) await this.termination.sendFlag();
    this.end(request.reason, request.terminateApi ?? false);
  }

  private onTransport(transport: FrameTransport, resumed: boolean): void {
    this.channel.attach(transport);
    this.log.debug(resumed ? 'data channel reopened' : 'data channel open');
    this.setState('connected');
    if (resumed) this.notify({ kind: 'connection-restored' });
  }

  private onConnectionLost(reason: string): void {
    this.log.debug(reason);
    this.channel.detach();
    this.setState('reconnecting');
    this.notify({ kind: 'connection-lost' });
  }

  private startHandler(session: NegotiatedSession, customerMessage: string): SessionHandler | undefined {
    if (this.handler || this.outcome.settled) return this.handler;
    const builtIn = builtInHandler(session.sessionType);
    if (!builtIn) {
      this.fail(new SessionError(`session type ${session.sessionType} is not supported by this client`), true);
      return undefined;
    }
    const context: HandlerContext = {
      sessionId: this.options.sessionId,
      channel: this.channel,
      io: this.options.io,
      logger: this.log,
      agentVersion: session.agentVersion,
      properties: session.properties,
      notice: (text) => this.notify({ kind: 'message', text }),
      exitStatusFromRemote: this.options.exitStatusFromRemote ?? false,
      reportExitCode: (code) => (this.outcome.exitCode = code),
      end: (request) => void this.endWith(request),
      fail: (reason) => this.fail(new SessionError(reason), true),
    };
    const handler = this.options.handlerFactory?.(context, session) ?? builtIn(context);
    this.handler = handler;
    this.emit('negotiated', handler, session);
    if (customerMessage) this.notify({ kind: 'customer-message', text: customerMessage });
    this.channel.setHandler((type, data) => handler.receive(type, data));
    Promise.resolve()
      .then(() => handler.start())
      .then(
        () => {
          this.emit('handler', handler, session);
          this.channel.deliverPending();
        },
        (err: unknown) => this.fail(new SessionError(err instanceof Error ? err.message : String(err)), true),
      );
    return handler;
  }

  private fail(error: SessionError, terminate: boolean): void {
    if (terminate) void this.termination.callApi();
    this.finish({ status: 'failed', error });
  }

  private finish(outcome: SessionOutcome): void {
    if (!this.outcome.settle(outcome)) return;
    this.setState('closed');
    // channel_closed may overtake the acknowledgement of our TerminateSession flag.
    if (this.terminateApiPending) void this.termination.callApi();
    this.handler?.stop();
    this.channel.close();
    this.connection.stop();
    this.log.debug(`session finished: ${outcome.status}; stats ${JSON.stringify(this.channel.stats)}`);
    this.outcome.release(this.termination.settled);
  }
}
