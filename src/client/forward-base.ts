import { EventEmitter } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { bridge, type BridgeOptions } from '../session/port/bridge.ts';
import { ClientError, messageOf } from './errors.ts';
import type { Forward, ForwardEvent, ForwardStats } from './forward-types.ts';
import type { ClientPortSession } from './port-session.ts';
import { RateMeter } from './rate-meter.ts';
import { describeOutcome, type SessionOutcome, type SessionState } from './session.ts';
import type { Lease, SessionPool } from './session-pool.ts';

/** One accepted local connection. */
export interface LocalConnection {
  readonly id: number;
  readonly socket: net.Socket;
  up: number;
  down: number;
  reset: boolean;
}

const SAMPLE_INTERVAL_MS = 500;

/** `host:port`, with IPv6 addresses in brackets. */
export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Listens on bind:port (brackets around IPv6 addresses are optional). Connections start
 * paused, so nothing is read before there is somewhere to put it.
 */
export async function listenTcp(bind: string, port: number): Promise<net.Server> {
  const host = bind.replace(/^\[(.*)\]$/, '$1');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ClientError('invalid-argument', `invalid local port ${port}`);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE' ? 'address already in use' : code === 'EADDRNOTAVAIL' ? 'no such local address' : messageOf(err);
    throw new ClientError('listen-failed', `cannot listen on ${hostPort(host, port)}: ${why}`);
  }
  return server;
}

/**
 * What a port forward and a SOCKS proxy share: the listener, the connections, the
 * sessions of their pools, statistics and events (see ForwardEvent).
 */
export abstract class ForwardBase extends EventEmitter implements Forward {
  readonly address: AddressInfo;
  abstract readonly description: string;
  protected readonly server: net.Server;
  private readonly connections = new Map<number, LocalConnection>();
  /** Every accepted socket, including SOCKS clients still in their handshake. */
  private readonly sockets = new Set<net.Socket>();
  private readonly liveSessions = new Set<ClientPortSession>();
  private readonly counters = { connections: 0, resets: 0, up: 0, down: 0, sessions: 0, retransmissions: 0, reconnects: 0 };
  private readonly meter = new RateMeter();
  private readonly sampler: NodeJS.Timeout;
  private nextId = 1;
  private closing: Promise<void> | undefined;

  constructor(server: net.Server) {
    super();
    this.server = server;
    this.address = server.address() as AddressInfo;
    server.on('connection', (socket: net.Socket) => {
      if (this.closing) return void socket.destroy();
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.onConnection(socket);
    });
    this.sampler = setInterval(() => this.meter.sample(this.counters.up, this.counters.down), SAMPLE_INTERVAL_MS);
    this.sampler.unref();
    this.meter.sample(0, 0);
  }

  protected abstract onConnection(socket: net.Socket): void;
  /** Stops the subclass's pools. */
  protected abstract closePools(): Promise<void>;

  get stats(): ForwardStats {
    const rates = this.meter.rates(this.counters.up, this.counters.down);
    let retransmissions = this.counters.retransmissions;
    let reconnects = this.counters.reconnects;
    let rttSum = 0;
    let rttCount = 0;
    for (const session of this.liveSessions) {
      const stats = session.stats;
      retransmissions += stats.retransmissions;
      reconnects += stats.reconnects;
      if (stats.rttMs !== undefined) {
        rttSum += stats.rttMs;
        rttCount++;
      }
    }
    return {
      connections: this.counters.connections,
      activeConnections: this.connections.size,
      resets: this.counters.resets,
      activeSessions: this.liveSessions.size,
      sessionsStarted: this.counters.sessions,
      bytesUp: this.counters.up,
      bytesDown: this.counters.down,
      throughputUp: rates.up,
      throughputDown: rates.down,
      rttMs: rttCount > 0 ? rttSum / rttCount : undefined,
      retransmissions,
      reconnects,
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sampler);
      const listening = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const connection of this.connections.values()) this.reset(connection);
      for (const socket of this.sockets) socket.destroy();
      await this.closePools();
      await listening;
    })();
    return this.closing;
  }

  protected get closed(): boolean {
    return this.closing !== undefined;
  }

  protected emitEvent(event: ForwardEvent): void {
    this.emit(event.type, event);
    this.emit('event', event);
  }

  /** Registers a new local connection and reports it. */
  protected accept(socket: net.Socket, destination: string): LocalConnection {
    const connection: LocalConnection = { id: this.nextId++, socket, up: 0, down: 0, reset: false };
    this.counters.connections++;
    this.connections.set(connection.id, connection);
    // Errors (e.g. ECONNRESET from the local client) end in 'close', which is handled.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.connections.delete(connection.id);
      this.emitEvent({
        type: 'connection-closed',
        connectionId: connection.id,
        bytesUp: connection.up,
        bytesDown: connection.down,
        reset: connection.reset,
      });
    });
    const remote = socket.remoteAddress ? hostPort(socket.remoteAddress, socket.remotePort ?? 0) : 'unknown';
    this.emitEvent({ type: 'connection-opened', connectionId: connection.id, remote, destination });
    return connection;
  }

  /** Closes a local connection with a reset (RST), so the client sees a failure. */
  protected reset(connection: LocalConnection): void {
    if (connection.socket.destroyed) return;
    this.markReset(connection);
    connection.socket.resetAndDestroy();
  }

  protected fail(message: string, connection?: LocalConnection, sessionId?: string): void {
    this.emitEvent({
      type: 'failure',
      message,
      ...(connection ? { connectionId: connection.id } : {}),
      ...(sessionId ? { sessionId } : {}),
    });
  }

  /** Carries a connection over a leased stream until the connection closes. */
  protected async carry(connection: LocalConnection, lease: Lease, extra: Pick<BridgeOptions, 'pendingUp' | 'pendingDown'> = {}): Promise<void> {
    const handler = lease.session.streams();
    try {
      await bridge(connection.socket, lease.stream, {
        ...extra,
        onUp: (bytes) => {
          connection.up += bytes;
          this.counters.up += bytes;
        },
        onDown: (bytes) => {
          connection.down += bytes;
          this.counters.down += bytes;
        },
        recycle: (chunk) => handler.recycle(chunk),
        onReset: () => this.markReset(connection),
      });
    } finally {
      lease.release();
    }
  }

  /** Reports a pool's sessions as forward events and counts them. */
  protected watchPool(pool: SessionPool, destination: string): void {
    pool.on('session-started', (session: ClientPortSession) => {
      this.counters.sessions++;
      this.liveSessions.add(session);
      this.emitEvent({ type: 'session-started', sessionId: session.sessionId, destination });
    });
    pool.on('session-state', (session: ClientPortSession, state: SessionState) => {
      if (state === 'closed') this.retire(session);
      this.emitEvent({ type: 'session-state', sessionId: session.sessionId, state });
    });
    pool.on('session-closed', (session: ClientPortSession, outcome: SessionOutcome) => {
      this.retire(session);
      this.emitEvent({ type: 'session-closed', sessionId: session.sessionId, outcome, reason: describeOutcome(outcome) });
    });
  }

  private retire(session: ClientPortSession): void {
    if (!this.liveSessions.delete(session)) return;
    const stats = session.stats;
    this.counters.retransmissions += stats.retransmissions;
    this.counters.reconnects += stats.reconnects;
  }

  private markReset(connection: LocalConnection): void {
    if (connection.reset) return;
    connection.reset = true;
    if (!this.closed) this.counters.resets++;
  }
}
