import type net from 'node:net';
import { AwsContext } from './aws-context.ts';
import { checkConnect, type ConnectVerdict } from './connect-check.ts';
import { ClientError, messageOf } from './errors.ts';
import type { DialFailure } from '../session/port/dial-failure.ts';
import { ForwardBase, hostPort, listenTcp, type LocalConnection } from './forward-base.ts';
import type { Forward, SocksProxyOptions } from './forward-types.ts';
import { startPortSession } from './port-session.ts';
import { describeOutcome, dialFailureOfOutcome, type SessionOutcome } from './session.ts';
import { SessionPool, type Lease } from './session-pool.ts';
import {
  AuthMethod,
  encodeMethodChoice,
  encodeReply,
  parseGreeting,
  parseRequest,
  SocksCommand,
  SocksReply,
  type ConnectRequest,
} from './socks5-codec.ts';

/** A client that has not finished its SOCKS handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Longer than any greeting plus request (2 + 255, 6 + 255 + 2 bytes). */
const HANDSHAKE_MAX_BYTES = 1024;
/** A destination that delivered data this recently is answered at once, without a connect check. */
const KNOWN_GOOD_MS = 30_000;
/** How long a failed stream waits for its session's outcome (to pick a reply code). */
const OUTCOME_WAIT_MS = 2000;

/**
 * A SOCKS5 proxy (RFC 1928; no authentication; CONNECT with IPv4, IPv6 and domain-name
 * addresses) whose connections are made by the target: each CONNECT becomes a stream
 * of an AWS-StartPortForwardingSessionToRemoteHost session to that host and port, from
 * a pool per destination (see PoolOptions). Domain names are resolved by the target,
 * as `curl --socks5-hostname` expects.
 *
 * Replies: 0x00 success, 0x05 when the agent reports that it could not connect
 * (ConnectToPortError: refused, unreachable or a name the target cannot resolve; the
 * agent does not say which), 0x04 when an old (basic-mode) agent says the name resolved
 * to nothing, 0x07 for BIND and UDP ASSOCIATE, 0x08 for unknown address types, 0x01 for
 * any other failure.
 *
 * ```ts
 * const proxy = await startSocksProxy({ target: 'i-0123456789abcdef0', port: 1080 });
 * // curl --socks5-hostname 127.0.0.1:1080 http://internal-service/
 * ```
 */
export async function startSocksProxy(options: SocksProxyOptions): Promise<Forward> {
  const server = await listenTcp(options.bind ?? '127.0.0.1', options.port);
  return new SocksProxy(server, options);
}

class SocksProxy extends ForwardBase {
  readonly description: string;
  private readonly options: SocksProxyOptions;
  private readonly context: AwsContext;
  private readonly pools = new Map<string, SessionPool>();
  private readonly knownGood = new Map<string, number>();

  constructor(server: net.Server, options: SocksProxyOptions) {
    super(server);
    this.options = options;
    this.context = new AwsContext(options.aws);
    this.description = `SOCKS5 ${hostPort(this.address.address, this.address.port)} -> ${options.target}`;
  }

  protected onConnection(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(timer));
    let buffer = Buffer.alloc(0);
    let greeted = false;
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length > HANDSHAKE_MAX_BYTES) return void socket.destroy();
      if (!greeted) {
        const greeting = parseGreeting(buffer);
        if (greeting.status === 'incomplete') return;
        if (greeting.status === 'invalid') return void socket.destroy();
        if (!greeting.value.methods.includes(AuthMethod.NoAuthentication)) {
          socket.end(encodeMethodChoice(AuthMethod.NoneAcceptable));
          return;
        }
        socket.write(encodeMethodChoice(AuthMethod.NoAuthentication));
        greeted = true;
        buffer = buffer.subarray(greeting.consumed);
      }
      const request = parseRequest(buffer);
      if (request.status === 'incomplete') return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      if (request.status === 'invalid') {
        if (request.reply === undefined) socket.destroy();
        else socket.end(encodeReply(request.reply));
        return;
      }
      if (request.value.command !== SocksCommand.Connect) {
        socket.end(encodeReply(SocksReply.CommandNotSupported));
        return;
      }
      void this.connect(socket, request.value, buffer.subarray(request.consumed));
    };
    socket.on('data', onData);
    socket.resume();
  }

  protected async closePools(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
  }

  private async connect(socket: net.Socket, request: ConnectRequest, pendingUp: Buffer): Promise<void> {
    const destination = hostPort(request.host, request.port);
    const connection = this.accept(socket, destination);
    let lease: Lease;
    try {
      lease = await this.poolFor(request.host, request.port, destination).acquire();
    } catch (err) {
      const failure = err instanceof ClientError ? err.dialFailure : undefined;
      return this.refuse(connection, socksReplyFor(failure), `CONNECT ${destination}: ${messageOf(err)}`);
    }
    if (socket.destroyed || this.closed) {
      lease.stream.destroy();
      return lease.release();
    }
    const verdict = await this.verdict(lease, destination);
    switch (verdict.status) {
      case 'refused':
        lease.stream.destroy();
        lease.release();
        return this.refuse(
          connection,
          SocksReply.ConnectionRefused,
          `CONNECT ${destination}: the agent could not connect (refused, unreachable, or a name the target cannot resolve)`,
        );
      case 'failed': {
        lease.release();
        const outcome = await outcomeSoon(lease.session.done);
        const why = outcome ? describeOutcome(outcome) : 'the session ended';
        const failure = outcome ? dialFailureOfOutcome(outcome) : undefined;
        return this.refuse(connection, socksReplyFor(failure), `CONNECT ${destination}: ${why}`, lease.session.sessionId);
      }
      case 'open':
        if (socket.destroyed) {
          lease.stream.destroy();
          return lease.release();
        }
        if (verdict.pending.chunks.length > 0) this.markGood(destination);
        socket.write(encodeReply(SocksReply.Succeeded));
        await this.carry(connection, lease, { pendingUp, pendingDown: verdict.pending });
        if (connection.down > 0) this.markGood(destination);
    }
  }

  /** Answers at once for a destination known to work, else waits for the agent's verdict. */
  private verdict(lease: Lease, destination: string): Promise<ConnectVerdict> {
    const lastGood = this.knownGood.get(destination);
    if (lastGood !== undefined && performance.now() - lastGood < KNOWN_GOOD_MS) {
      return Promise.resolve({ status: 'open', pending: { chunks: [], ended: false } });
    }
    const rtt = lease.session.stats.rttMs ?? 100;
    const waitMs = this.options.connectCheckMs ?? Math.min(1500, 2 * rtt + 100);
    return checkConnect(lease.stream, lease.session.streams(), waitMs);
  }

  private markGood(destination: string): void {
    const now = performance.now();
    for (const [known, at] of this.knownGood) if (now - at >= KNOWN_GOOD_MS) this.knownGood.delete(known);
    this.knownGood.set(destination, now);
  }

  private refuse(connection: LocalConnection, reply: number, message: string, sessionId?: string): void {
    this.fail(message, connection, sessionId);
    if (!connection.socket.destroyed) connection.socket.end(encodeReply(reply));
  }

  private poolFor(host: string, port: number, destination: string): SessionPool {
    const key = destination.toLowerCase();
    let pool = this.pools.get(key);
    if (pool) return pool;
    const options = { ...this.options, host, port };
    const created = new SessionPool(() => startPortSession(options, this.context), this.options.pool);
    this.watchPool(created, destination);
    created.on('empty', () => {
      if (this.pools.get(key) === created) this.pools.delete(key);
    });
    this.pools.set(key, created);
    pool = created;
    return pool;
  }
}

const REPLY_FOR_FAILURE: Record<DialFailure, number> = {
  refused: SocksReply.ConnectionRefused,
  'host-unreachable': SocksReply.HostUnreachable,
  'network-unreachable': SocksReply.NetworkUnreachable,
  'not-allowed': SocksReply.NotAllowed,
};

/** The reply code for a failed CONNECT: the agent's dial failure, else a general failure. */
export function socksReplyFor(failure: DialFailure | undefined): number {
  return failure ? REPLY_FOR_FAILURE[failure] : SocksReply.GeneralFailure;
}

function outcomeSoon(done: Promise<SessionOutcome>): Promise<SessionOutcome | undefined> {
  return Promise.race([done, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), OUTCOME_WAIT_MS).unref())]);
}
