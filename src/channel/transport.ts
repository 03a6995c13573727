import type { EventEmitter } from 'node:events';

/**
 * What the reliable channel needs from a connection: send whole frames, receive whole
 * frames. A transport is one connection; reconnecting means attaching a new one.
 *
 * Events: 'frame' (data: Buffer), 'close' (error?: Error).
 */
export interface FrameTransport extends EventEmitter {
  /** Sends one binary frame; false when the connection is gone and nothing was sent. */
  send(frame: Buffer): boolean;
  /** Bytes queued on the connection but not yet handed to the OS. */
  readonly bufferedAmount: number;
  /** Stops reading from the connection (TCP backpressure towards the sender). */
  pause(): void;
  resume(): void;
  close(): void;
}
