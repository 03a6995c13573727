import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { SessionOutcome, SessionState, SessionRunOptions } from './session.ts';

export interface PoolOptions {
  /**
   * Sessions a forward (or, for a SOCKS proxy, each destination) may run at once
   * (default 8). Each new connection gets a session of its own up to this number; past
   * it, connections share the least-loaded session as extra smux streams.
   */
  maxSessions?: number;
  /** A session without connections is terminated after this long (default 5000 ms). */
  idleTimeoutMs?: number;
}

export interface ForwardPortOptions extends SessionRunOptions {
  target: string;
  /** Local address to listen on (default 127.0.0.1; `::1` and other IPv6 addresses work, brackets optional). */
  bind?: string;
  /** Local port; 0 picks a free one (see `address`). */
  localPort: number;
  /** A host the target can reach; without it, the target itself. */
  host?: string;
  /** Destination port. */
  port: number;
  pool?: PoolOptions;
  reason?: string;
}

export interface SocksProxyOptions extends SessionRunOptions {
  target: string;
  /** Local address to listen on (default 127.0.0.1). */
  bind?: string;
  /** Local port; 0 picks a free one. */
  port: number;
  /** Per destination (host and port). */
  pool?: PoolOptions;
  /**
   * How long a CONNECT waits for the agent to report a failed dial before it is answered
   * with success (default: twice the session's RTT plus 100 ms, at most 1500 ms). The
   * protocol has no positive answer to a dial, only ConnectToPortError.
   */
  connectCheckMs?: number;
  reason?: string;
}

export interface ForwardStats {
  /** Local connections accepted so far. */
  connections: number;
  /** Local connections open now. */
  activeConnections: number;
  /** Local connections closed with a reset because their session ended or could not start. */
  resets: number;
  /** Sessions running now. */
  activeSessions: number;
  /** Sessions started so far. */
  sessionsStarted: number;
  /** Bytes read from local connections (towards the destination). */
  bytesUp: number;
  /** Bytes written to local connections (from the destination). */
  bytesDown: number;
  /** Bytes per second over the last two seconds or so. */
  throughputUp: number;
  throughputDown: number;
  /** Mean smoothed RTT of the running sessions (ms); undefined when none has measured one. */
  rttMs: number | undefined;
  /** Retransmitted frames, all sessions of this forward together. */
  retransmissions: number;
  /** Session reconnects (ResumeSession), all sessions together. */
  reconnects: number;
}

/**
 * What happened, for a status line or a log. Every event is emitted under its `type`
 * and under 'event'. Failures use the type 'failure' (not 'error', so a forward nobody
 * listens to never throws).
 */
export type ForwardEvent =
  | { type: 'session-started'; sessionId: string; destination: string }
  | { type: 'session-state'; sessionId: string; state: SessionState }
  | { type: 'session-closed'; sessionId: string; outcome: SessionOutcome; reason: string }
  | { type: 'connection-opened'; connectionId: number; remote: string; destination: string }
  | { type: 'connection-closed'; connectionId: number; bytesUp: number; bytesDown: number; reset: boolean }
  | { type: 'failure'; message: string; connectionId?: number; sessionId?: string };

/**
 * A local listener whose connections are carried by port sessions. It stays up when
 * sessions end: their connections are reset, and the next connection starts a new one.
 */
export interface Forward extends EventEmitter {
  /** Where it listens (the real port when 0 was asked for). */
  readonly address: AddressInfo;
  /** e.g. `127.0.0.1:8080 -> i-0123456789abcdef0 localhost:80`. */
  readonly description: string;
  readonly stats: ForwardStats;
  /** Stops listening, resets open connections, terminates the sessions. */
  close(): Promise<void>;
}
