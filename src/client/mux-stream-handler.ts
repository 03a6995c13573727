import type { Duplex } from 'node:stream';
import { PayloadType } from '../protocol/constants.ts';
import { MAX_FRAME_SIZE } from '../smux/frame.ts';
import { SmuxSession } from '../smux/session.ts';
import { IncomingGate } from '../session/incoming-gate.ts';
import { BufferPool } from '../session/port/buffer-pool.ts';
import { isTerminateSignal, MUX_RECEIVE_LIMIT } from '../session/port/port-limits.ts';
import type { HandlerContext } from '../session/session-handler.ts';
import { ClientError } from './errors.ts';
import { RefusalCounter, sendOutput, type StreamHandler } from './stream-handler.ts';

/**
 * Port sessions in mux mode (§7.3.4) for the library: an smux v1 client whose streams
 * are handed to the caller instead of being bridged to a local listener. Each stream
 * makes the agent open its own connection to the destination.
 *
 * Backpressure as in the drop-in's mux handler: writes complete only while the data
 * channel's window has room; received data that the streams' readers leave unread
 * stops the channel from reading once MUX_RECEIVE_LIMIT is buffered.
 */
export class MuxStreamHandler extends RefusalCounter implements StreamHandler {
  readonly mode = 'mux' as const;
  private readonly context: HandlerContext;
  private readonly smux: SmuxSession;
  private readonly gate: IncomingGate;
  private readonly pool = new BufferPool(MAX_FRAME_SIZE, Math.ceil(MUX_RECEIVE_LIMIT / MAX_FRAME_SIZE) + 16);
  private stopped = false;

  constructor(context: HandlerContext, options: { keepAlive: boolean }) {
    super();
    this.context = context;
    this.smux = new SmuxSession({
      role: 'client',
      // smux output travels as Output payloads; false (window full) holds smux back until 'drain'.
      write: (bytes) => sendOutput(context.channel, bytes),
      keepAlive: options.keepAlive ? { intervalMs: 10_000, timeoutMs: 30_000 } : false,
      receiveBufferLimit: MUX_RECEIVE_LIMIT,
      allocate: (size) => this.pool.allocate(size),
    });
    this.gate = new IncomingGate(context.channel);
    this.smux.on('receiveDrain', () => this.gate.release(this.smux));
    this.smux.on('close', (err?: Error) => {
      if (!this.stopped) this.context.fail(`the multiplexed connection failed${err ? `: ${err.message}` : ''}`);
    });
    context.channel.on('drain', this.onChannelDrain);
  }

  get activeStreams(): number {
    return this.smux.streams;
  }

  start(): void {}

  openStream(): Promise<Duplex> {
    if (this.stopped || this.smux.closed) {
      return Promise.reject(new ClientError('session-closed', `session ${this.context.sessionId} is closed`));
    }
    return Promise.resolve(this.smux.openStream());
  }

  recycle(chunk: Buffer): void {
    this.pool.release(chunk);
  }

  receive(payloadType: number, payload: Buffer): boolean {
    if (payloadType === PayloadType.Flag) {
      this.noteFlag(payload);
      return true;
    }
    if (payloadType !== PayloadType.Output) return true;
    this.smux.input(payload);
    if (this.smux.receiveFull) this.gate.hold(this.smux);
    return true;
  }

  signal(name: NodeJS.Signals): boolean {
    if (!isTerminateSignal(name)) return false;
    this.context.end({ reason: `${name} received`, terminateFlag: true, terminateApi: true });
    return true;
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
