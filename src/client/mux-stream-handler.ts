import type { Duplex } from 'node:stream';
import { PayloadType } from '../protocol/constants.ts';
import { MuxCarrier } from '../session/port/mux-carrier.ts';
import { endOnTerminateSignal } from '../session/port/port-limits.ts';
import type { HandlerContext } from '../session/session-handler.ts';
import { ClientError } from './errors.ts';
import { RefusalCounter, type StreamHandler } from './stream-handler.ts';

/**
 * Port sessions in mux mode (§7.3.4) for the library: an smux v1 client whose streams
 * are handed to the caller instead of being bridged to a local listener. Each stream
 * makes the agent open its own connection to the destination. Backpressure as in the
 * drop-in's mux handler (see MuxCarrier).
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

  openStream(): Promise<Duplex> {
    if (this.carrier.closed) {
      return Promise.reject(new ClientError('session-closed', `session ${this.context.sessionId} is closed`));
    }
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
