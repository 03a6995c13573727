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
  /**
   * Sends an acknowledgement like `send`. Each frame received makes one, so a transport may
   * stop reading while too many of them wait to be written (a service that reads us slower
   * than it sends would otherwise grow the queue without bound).
   */
  sendAcknowledgement(frame: Buffer): boolean;
  /** Bytes queued on the connection but not yet handed to the OS. */
  readonly bufferedAmount: number;
  /**
   * Set when the peer closed the connection on purpose (a WebSocket close frame) with
   * this code; undefined while open, after a local close, or when the connection broke.
   */
  readonly closeCode?: number;
  /** Stops reading from the connection (TCP backpressure towards the sender). */
  pause(): void;
  resume(): void;
  close(): void;
}
