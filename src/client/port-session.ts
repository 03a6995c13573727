import { Writable, Readable, type Duplex } from 'node:stream';
import type { SessionIO } from '../session/io.ts';
import { BasicStreamHandler } from '../session/port/basic-stream-handler.ts';
import { MuxStreamHandler } from '../session/port/mux-stream-handler.ts';
import { createStreamHandler } from '../session/port/port-streams.ts';
import { StreamsClosedError, type StreamHandler, type StreamMode } from '../session/port/stream-handler.ts';
import type { SessionHandler } from '../session/session-handler.ts';
import { AwsContext } from './aws-context.ts';
import { ClientError } from './errors.ts';
import { ClientSession, type Session, type SessionRunOptions } from './session.ts';

/** How a port session carries connections: smux streams, or one raw stream at a time. */
export type PortMode = StreamMode;

export const PORT_DOCUMENT = 'AWS-StartPortForwardingSession';
export const REMOTE_HOST_PORT_DOCUMENT = 'AWS-StartPortForwardingSessionToRemoteHost';

export interface OpenPortSessionOptions extends SessionRunOptions {
  target: string;
  /** A host the target can reach (name or address); without it, the target itself. */
  host?: string;
  /** The destination port. */
  port: number;
  reason?: string;
}

/**
 * A port-forwarding session whose connections are streams in this process.
 *
 * Mux mode (current agents): every openStream() is a new connection from the agent to
 * the destination, all sharing the session (and its ~1 MB/s agent-side pacing).
 * Basic mode (agents up to 3.0.196.0): one connection at a time; openStream() waits
 * until the previous stream is destroyed.
 *
 * A stream's end (FIN) is the destination closing its side; destroying a stream closes
 * that connection. When the session ends, every stream is destroyed without an 'end'.
 */
export interface PortSession extends Session {
  readonly mode: PortMode;
  /** Streams open now. */
  readonly activeStreams: number;
  openStream(): Promise<Duplex>;
}

/**
 * Starts a port-forwarding session (AWS-StartPortForwardingSession, or
 * AWS-StartPortForwardingSessionToRemoteHost when `host` is given) and resolves once
 * it is ready for streams. Rejects with a ClientError when it cannot be started.
 *
 * ```ts
 * const session = await openPortSession({ target: 'i-0123456789abcdef0', port: 80 });
 * const stream = await session.openStream();
 * stream.end('GET / HTTP/1.0\r\n\r\n');
 * stream.pipe(process.stdout);
 * ```
 */
export function openPortSession(options: OpenPortSessionOptions): Promise<PortSession> {
  return startPortSession(options, new AwsContext(options.aws));
}

/** openPortSession() with a shared AWS context, for pools. */
export async function startPortSession(options: OpenPortSessionOptions, context: AwsContext): Promise<ClientPortSession> {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new ClientError('invalid-argument', `invalid destination port ${options.port}`);
  }
  const parameters = await context.startSession({
    target: options.target,
    documentName: options.host ? REMOTE_HOST_PORT_DOCUMENT : PORT_DOCUMENT,
    parameters: {
      portNumber: [String(options.port)],
      localPortNumber: ['0'],
      ...(options.host ? { host: [options.host] } : {}),
    },
    ...(options.reason ? { reason: options.reason } : {}),
  });
  const session = new ClientPortSession(parameters, options, context);
  try {
    await session.started();
  } catch (err) {
    await session.terminate();
    throw err;
  }
  return session;
}

export class ClientPortSession extends ClientSession implements PortSession {
  private handler: StreamHandler | undefined;

  constructor(parameters: ConstructorParameters<typeof ClientSession>[0], options: SessionRunOptions, context: AwsContext) {
    super(parameters, options, {
      context,
      io: nullIO(),
      handlerFactory: (handlerContext, negotiated): SessionHandler | undefined =>
        negotiated.sessionType === 'Port' ? createStreamHandler(handlerContext) : undefined,
    });
  }

  /** Resolves when streams can be opened; rejects with a ClientError if the session ended first. */
  async started(): Promise<void> {
    const handler = await this.ready();
    if (!(handler instanceof MuxStreamHandler || handler instanceof BasicStreamHandler)) {
      await this.terminate();
      throw new ClientError('session-failed', `session ${this.sessionId} is not a port session`);
    }
    this.handler = handler;
  }

  get mode(): PortMode {
    return this.streams().mode;
  }

  get activeStreams(): number {
    return this.handler?.activeStreams ?? 0;
  }

  async openStream(): Promise<Duplex> {
    try {
      return await this.streams().openStream();
    } catch (err) {
      if (err instanceof StreamsClosedError) throw new ClientError('session-closed', err.message);
      throw err;
    }
  }

  /** The stream handler, for the library's forwarders (connect checks, chunk recycling). */
  streams(): StreamHandler {
    if (!this.handler) throw new ClientError('session-failed', `session ${this.sessionId} is not ready yet`);
    return this.handler;
  }
}

/** Streams for the session's notices and stdin, which a library port session does not use. */
function nullIO(): SessionIO {
  const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
  const stdout = Object.assign(sink(), { isTTY: false });
  return { stdin: new Readable({ read() {} }), stdout, stderr: sink() };
}
