import { HEADER_SIZE, MAX_FRAME_SIZE } from '../../smux/frame.ts';
import { STREAM_CHUNK_SIZE } from '../../protocol/constants.ts';
import { SmuxSession } from '../../smux/session.ts';
import type { SmuxStream } from '../../smux/stream.ts';
import { sendOutput } from '../send-output.ts';
import { IncomingGate } from '../incoming-gate.ts';
import type { HandlerContext } from '../session-handler.ts';
import { BufferPool } from './buffer-pool.ts';
import { MUX_RECEIVE_LIMIT } from './port-limits.ts';

/**
 * Data per smux PSH frame we send: header and data make exactly 32 Output payloads, so a
 * bulk stream fills every payload (32 KiB of data would leave an 8-byte payload after
 * every 32: one frame in 33 carrying almost nothing, each costing a digest and an ack
 * on both sides). Any size up to 65535 is valid smux; the agent reads the carrier as a
 * byte stream.
 */
export const MUX_PSH_DATA_SIZE = 32 * STREAM_CHUNK_SIZE - HEADER_SIZE;

/**
 * The smux v1 client of a mux-mode port session (§7.3.4), whose byte stream travels in
 * Output payloads, with backpressure both ways:
 * - upload: smux writes stop (and stream write callbacks wait) while the channel window
 *   is full, until the channel's 'drain' (sooner when an idle stream has a frame waiting);
 * - download: smux v1 has no per-stream flow control, so unread data buffers here; once
 *   the streams together hold MUX_RECEIVE_LIMIT, the channel stops reading the
 *   connection until they drain. Received chunks come from a pool: give each back with
 *   release() once it has been written out.
 * A failed smux session fails the port session.
 */
export class MuxCarrier {
  private readonly context: HandlerContext;
  private readonly smux: SmuxSession;
  private readonly gate: IncomingGate;
  private readonly pool = new BufferPool(MAX_FRAME_SIZE, Math.ceil(MUX_RECEIVE_LIMIT / MAX_FRAME_SIZE) + 16);
  private stopped = false;

  constructor(context: HandlerContext, options: { keepAlive: boolean }) {
    this.context = context;
    this.smux = new SmuxSession({
      role: 'client',
      write: (bytes) => sendOutput(context.channel, bytes),
      carrierCopies: true, // channel.send() encodes (copies) each payload into its frame at once
      maxFrameSize: MUX_PSH_DATA_SIZE,
      keepAlive: options.keepAlive ? { intervalMs: 10_000, timeoutMs: 30_000 } : false,
      receiveBufferLimit: MUX_RECEIVE_LIMIT,
      allocate: (size) => this.pool.allocate(size),
    });
    this.gate = new IncomingGate(context.channel);
    this.smux.on('receiveDrain', () => this.gate.release(this.smux));
    this.smux.on('close', (err?: Error) => {
      if (!this.stopped) context.fail(`the multiplexed connection failed${err ? `: ${err.message}` : ''}`);
    });
    context.channel.on('drain', this.onChannelDrain);
    // A stream that was idle (ssh keystrokes beside an scp) need not wait for the window
    // to reopen by an eighth: its frame is sent first at the first free slot.
    this.smux.on('streamWaiting', () => context.channel.drainSoon());
  }

  get closed(): boolean {
    return this.stopped || this.smux.closed;
  }

  /** Streams open now. */
  get streams(): number {
    return this.smux.streams;
  }

  openStream(): SmuxStream {
    return this.smux.openStream();
  }

  /** An Output payload from the agent: smux carrier bytes. */
  input(payload: Buffer): void {
    this.smux.input(payload);
    if (this.smux.receiveFull) this.gate.hold(this.smux);
  }

  /** Gives back a chunk read from a stream once it has been written out. */
  release(chunk: Buffer): void {
    this.pool.release(chunk);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.context.channel.off('drain', this.onChannelDrain);
    this.smux.close();
  }

  private readonly onChannelDrain = (): void => {
    this.smux.carrierDrained();
  };
}
