import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { SessionHandler } from '../session-handler.ts';

/** How a port session carries connections: smux streams, or one raw stream at a time. */
export type StreamMode = 'mux' | 'basic';

/**
 * The one implementation of a port session's connections, for the plugin (whose local
 * listener bridges each accepted socket to a stream) and the library (which hands the
 * streams to its caller). Each stream is one connection from the agent to the
 * destination.
 *
 * When the session ends, every stream is destroyed without an 'end': the bridge then
 * resets its local connection, so a client never mistakes a cut transfer for a whole one.
 *
 * Events: 'refused' when the agent reports that it could not connect to the destination.
 */
export interface StreamHandler extends SessionHandler, EventEmitter {
  readonly mode: StreamMode;
  /** Streams open now (basic mode: 0 or 1). */
  readonly activeStreams: number;
  /**
   * A new stream; basic mode waits until the previous one is closed. Rejects with
   * StreamsClosedError once the session is over, or with the signal's reason when
   * `signal` aborts the wait (the connection that wanted it went away).
   */
  openStream(signal?: AbortSignal): Promise<Duplex>;
  /** ConnectToPortError flags not yet matched to a stream. */
  readonly pendingRefusals: number;
  /** Matches one ConnectToPortError flag to a stream that ended without data. */
  takeRefusal(): boolean;
  /** Gives back a chunk read from one of its streams once it is no longer used (optional recycling). */
  recycle(chunk: Buffer): void;
}

/** The session is over: no new streams. */
export class StreamsClosedError extends Error {
  readonly code = 'session-closed';

  constructor(sessionId: string) {
    super(`session ${sessionId} is closed`);
    this.name = 'StreamsClosedError';
  }
}
