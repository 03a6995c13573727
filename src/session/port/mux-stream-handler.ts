import type { Duplex } from 'node:stream';
import { PayloadType } from '../../protocol/constants.ts';
import type { HandlerContext } from '../session-handler.ts';
import { MuxCarrier } from './mux-carrier.ts';
import { endOnTerminateSignal } from './port-limits.ts';
import { RefusalCounter } from './refusal-counter.ts';
import { StreamsClosedError, type StreamHandler } from './stream-handler.ts';

/**
 * Port sessions in mux mode (§7.3.4): an smux v1 client, one stream per connection;
 * each stream makes the agent open its own connection to the destination. Backpressure
 * both ways and the receive limit: see MuxCarrier.
 */
export class MuxStreamHandler extends RefusalCounter implements StreamHandler {
  readonly mode = 'mux' as const;
  private readonly context: HandlerContext;
  private readonly carrier: MuxCarrier;

  constructor(context: HandlerContext, options: { keepAlive: boolean }) {
    super();
    this.context = context;
    this.carrier = new MuxCarrier(context, options);
  }

  get activeStreams(): number {
    return this.carrier.streams;
  }

  start(): void {}

  openStream(signal?: AbortSignal): Promise<Duplex> {
    if (this.carrier.closed) return Promise.reject(new StreamsClosedError(this.context.sessionId));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return Promise.resolve(this.carrier.openStream());
  }

  recycle(chunk: Buffer): void {
    this.carrier.release(chunk);
  }

  receive(payloadType: number, payload: Buffer): boolean {
    if (payloadType === PayloadType.Flag) {
      this.noteFlag(payload);
      return true;
    }
    if (payloadType === PayloadType.Output) this.carrier.input(payload);
    return true;
  }

  signal(name: NodeJS.Signals): boolean {
    return endOnTerminateSignal(this.context, name, false);
  }

  stop(): void {
    this.carrier.stop();
  }
}
