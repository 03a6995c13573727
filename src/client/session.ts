import { EventEmitter } from 'node:events';
import type { FrameTransport } from '../channel/transport.ts';
import type { NegotiatedSession } from '../session/handshake.ts';
import type { SessionIO } from '../session/io.ts';
import { processIO } from '../session/io.ts';
import { SessionEngine, type SessionEngineOptions } from '../session/session-engine.ts';
import type { SessionNotice } from '../session/session-notice.ts';
import type { SessionOutcome, SessionParameters, SessionState } from '../session/session-contract.ts';
import { SessionEncryption } from '../session/session-encryption.ts';
import type { SessionHandler } from '../session/session-handler.ts';
import { connectWebSocket, type Liveness } from '../transport/websocket-transport.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { AwsContext } from './aws-context.ts';
import type { AwsOptions } from './aws-options.ts';
import { ecsExecCommand, startEcsExec } from './ecs-exec.ts';
import { ClientError } from './errors.ts';
import { dialFailureOf, type DialFailure } from '../session/port/dial-failure.ts';

export type { SessionOutcome, SessionState } from '../session/session-contract.ts';
export { noticeText, type SessionNotice } from '../session/session-notice.ts';

export interface SessionStats {
  /** Smoothed round-trip time of the data channel (ms); undefined before the first acknowledgement. */
  rttMs: number | undefined;
  /** Frames sent again because no acknowledgement came in time. */
  retransmissions: number;
  /** Bytes received over the data channel connection(s), frame headers and acknowledgements included. */
  bytesIn: number;
  /** Bytes sent over the data channel connection(s), frame headers and acknowledgements included. */
  bytesOut: number;
  /** Times the connection was lost and the session resumed (ResumeSession plus a new WebSocket). */
  reconnects: number;
}

/**
 * A running session. It never prints: its session data goes to the `io` it was given,
 * and what a person should hear about (the agent's customer message, a lost and
 * restored connection) comes as 'notice' events; noticeText() words them.
 *
 * Events: 'state' (SessionState: connecting, connected, reconnecting, closed), 'notice'
 * (SessionNotice), 'closed' (SessionOutcome) once, when the session is over.
 */
export interface Session extends EventEmitter {
  readonly sessionId: string;
  readonly target: string;
  readonly state: SessionState;
  readonly stats: SessionStats;
  /** The agent's version from the handshake, once known (empty for agents without one). */
  readonly agentVersion: string | undefined;
  /** Resolves (never rejects) when the session is over: closed by the agent, ended here, or failed. */
  readonly done: Promise<SessionOutcome>;
  /**
   * Passes a signal to the session: shells get SIGINT/SIGQUIT/SIGTSTP as control bytes,
   * port sessions end on terminating signals, anything else ends the session.
   */
  signal(name: NodeJS.Signals): void;
  /** Ends the session here and calls TerminateSession; resolves when it is over. */
  terminate(): Promise<void>;
}

export interface SessionRunOptions {
  aws?: AwsOptions;
  /** Debug log; never receives tokens or keys. */
  logger?: Logger;
  /** WebSocket liveness (default: ping every 5 s, dead after 15 s of silence). */
  liveness?: Liveness;
  /** Give up when the agent acknowledges nothing for this long while connected (default 5 min). */
  stallTimeoutMs?: number;
}

export interface StartSessionOptions extends SessionRunOptions {
  /**
   * An instance id (i-…, mi-…) or an ECS target (ecs:CLUSTER_TASK_RUNTIMEID); see
   * resolveTarget(). On ECS targets, shells and AWS-StartInteractiveCommand go through
   * ECS ExecuteCommand (see ecsShell); port documents through SSM StartSession.
   */
  target: string;
  /** An SSM document, e.g. AWS-StartInteractiveCommand; none means a shell. */
  documentName?: string;
  parameters?: Record<string, string[]>;
  /** Recorded by SSM with the session (SSM StartSession only; ECS ExecuteCommand has no reason). */
  reason?: string;
  /** ECS targets: the command ECS exec runs for a shell (default /bin/sh). */
  ecsShell?: string;
  /** Where the session reads and writes (default: this process's stdin, stdout, stderr). */
  io?: SessionIO;
  /**
   * Commands: keep the remote exit code for SessionOutcome.exitCode (default true). False
   * prints `EXIT_CODE: n` as the official plugin does.
   */
  exitCodeFromRemote?: boolean;
}

/** What the library adds to a session it starts; internal to src/client. */
export interface SessionInternals {
  context?: AwsContext;
  io?: SessionIO;
  handlerFactory?: SessionEngineOptions['handlerFactory'];
  exitCodeFromRemote?: boolean;
}

const DEFAULT_LIVENESS: Liveness = { intervalMs: 5000, timeoutMs: 15_000 };

/**
 * Starts a session with SSM StartSession and runs it: a shell, a command, or whatever
 * the document says. Resolves once StartSession succeeded (the data channel connects in
 * the background; watch 'state' or `done`). Rejects with a ClientError when SSM refuses.
 *
 * A shell or AWS-StartInteractiveCommand on an ECS target is started with ECS
 * ExecuteCommand instead (the container's name from DescribeTasks; TargetError when the
 * task or container cannot take it). That is a terminal session: stdout and stderr come
 * merged, and no exit code is reported.
 *
 * ```ts
 * const session = await startSession({ target: 'i-0123456789abcdef0', documentName: 'AWS-StartNonInteractiveCommand',
 *   parameters: { command: ['uptime'] } });
 * const outcome = await session.done; // { status: 'closed', exitCode: 0, ... }
 * ```
 */
export async function startSession(options: StartSessionOptions): Promise<Session> {
  const context = new AwsContext(options.aws);
  const ecsCommand = ecsExecCommand(options);
  const parameters =
    ecsCommand === undefined ? await context.startSession(options) : await startEcsExec(options.target, ecsCommand, options.aws);
  return new ClientSession(parameters, options, {
    context,
    io: options.io ?? processIO(),
    exitCodeFromRemote: options.exitCodeFromRemote ?? true,
  });
}

/** The session engine wrapped as the library's Session. */
export class ClientSession extends EventEmitter implements Session {
  readonly sessionId: string;
  readonly target: string;
  readonly done: Promise<SessionOutcome>;
  protected readonly engine: SessionEngine;
  private readonly bytes = { in: 0, out: 0 };
  private negotiated: NegotiatedSession | undefined;
  private readonly handlerReady: Promise<SessionHandler>;

  constructor(parameters: SessionParameters, options: SessionRunOptions, internals: SessionInternals) {
    super();
    this.sessionId = parameters.sessionId;
    this.target = parameters.target;
    const context = internals.context ?? new AwsContext(options.aws);
    const liveness = options.liveness ?? DEFAULT_LIVENESS;
    this.engine = new SessionEngine({
      ...parameters,
      io: internals.io ?? processIO(),
      logger: options.logger ?? silentLogger,
      api: context.api,
      liveness,
      stallTimeoutMs: options.stallTimeoutMs,
      exitStatusFromRemote: internals.exitCodeFromRemote ?? true,
      encryption: new SessionEncryption({
        sessionId: parameters.sessionId,
        target: parameters.target,
        legacy: false,
        generateDataKey: context.generateDataKey,
      }),
      connect: async (url, open) => this.counted(await connectWebSocket(url, { openDataChannel: open, liveness })),
      ...(internals.handlerFactory ? { handlerFactory: internals.handlerFactory } : {}),
    });
    this.engine.on('state', (state: SessionState) => this.emit('state', state));
    this.engine.on('notice', (notice: SessionNotice) => this.emit('notice', notice));
    this.handlerReady = new Promise<SessionHandler>((resolve) =>
      this.engine.once('handler', (handler: SessionHandler, negotiated: NegotiatedSession) => {
        this.negotiated = negotiated;
        resolve(handler);
      }),
    );
    this.done = this.engine.run().then((outcome) => {
      this.emit('closed', outcome);
      return outcome;
    });
  }

  get state(): SessionState {
    return this.engine.state;
  }

  get agentVersion(): string | undefined {
    return this.negotiated?.agentVersion;
  }

  get stats(): SessionStats {
    const channel = this.engine.channel;
    return {
      rttMs: channel.stats.acksReceived > 0 ? channel.rto.srtt : undefined,
      retransmissions: channel.stats.framesResent,
      bytesIn: this.bytes.in,
      bytesOut: this.bytes.out,
      reconnects: this.engine.reconnects,
    };
  }

  signal(name: NodeJS.Signals): void {
    this.engine.signal(name);
  }

  async terminate(): Promise<void> {
    this.engine.end('terminated by the library user', true);
    await this.done;
  }

  /**
   * The session's handler once the handshake chose it; rejects with a ClientError when
   * the session ends first.
   */
  protected ready(): Promise<SessionHandler> {
    const ended = this.done.then((outcome): never => {
      throw new ClientError('session-failed', `session ${this.sessionId} ended before it was ready: ${describeOutcome(outcome)}`, {
        dialFailure: dialFailureOfOutcome(outcome),
      });
    });
    return Promise.race([this.handlerReady, ended]);
  }

  /** Counts the bytes of a data channel connection. */
  private counted(transport: FrameTransport): FrameTransport {
    const bytes = this.bytes;
    transport.on('frame', (frame: Buffer) => (bytes.in += frame.length));
    const counting = (send: (frame: Buffer) => boolean) => (frame: Buffer): boolean => {
      const sent = send(frame);
      if (sent) bytes.out += frame.length;
      return sent;
    };
    transport.send = counting(transport.send.bind(transport));
    transport.sendAcknowledgement = counting(transport.sendAcknowledgement.bind(transport));
    return transport;
  }
}

/** Why the agent could not reach a port session's destination, when it closed the session saying so. */
export function dialFailureOfOutcome(outcome: SessionOutcome): DialFailure | undefined {
  return outcome.status === 'closed' ? dialFailureOf(outcome.output) : undefined;
}

/** One line for a session's end, for users. */
export function describeOutcome(outcome: SessionOutcome): string {
  switch (outcome.status) {
    case 'closed':
      return outcome.output ? `closed by the agent: ${outcome.output}` : 'closed by the agent';
    case 'ended':
      return `ended: ${outcome.reason}`;
    case 'failed':
      return outcome.error.message;
  }
}
