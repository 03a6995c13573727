import { Duplex } from 'node:stream';
import { FlagCode, PayloadType } from '../../protocol/constants.ts';
import { encodeFlag } from '../../protocol/payloads.ts';
import { IncomingGate } from '../incoming-gate.ts';
import type { HandlerContext } from '../session-handler.ts';
import { sendOutput } from '../send-output.ts';
import { endOnTerminateSignal } from './port-limits.ts';
import { RefusalCounter } from './refusal-counter.ts';
import { StreamsClosedError, type StreamHandler } from './stream-handler.ts';

/**
 * Port sessions in basic mode (§7.3.3, agents without smux): the session is one raw
 * byte stream, so there is one connection at a time. Closing a stream sends
 * DisconnectToPort, and the agent dials the destination again for the next one;
 * openStream() waits meanwhile, in order. Frames that arrive with no stream open stay
 * unacknowledged, as with the official client.
 *
 * Basic mode cannot tell us that the destination closed its side: a stream ends only
 * when its user (or the session) closes it. Ending the stream's writable side is not
 * passed on either, since the protocol has no half-close; the stream stays open for
 * reading. (The plugin's listener closes the connection at a local EOF instead, as the
 * official plugin does.)
 */
export class BasicStreamHandler extends RefusalCounter implements StreamHandler {
  readonly mode = 'basic' as const;
  private readonly context: HandlerContext;
  private readonly gate: IncomingGate;
  private readonly reusable: boolean;
  private active: BasicStream | undefined;
  private readonly waiting: Waiter[] = [];
  private stopped = false;

  /** `reusable`: LocalPortForwarding (DisconnectToPort, then a new stream); else one stream ends the session. */
  constructor(context: HandlerContext, options: { reusable: boolean }) {
    super();
    this.context = context;
    this.reusable = options.reusable;
    this.gate = new IncomingGate(context.channel);
  }

  get activeStreams(): number {
    return this.active ? 1 : 0;
  }

  start(): void {}

  openStream(signal?: AbortSignal): Promise<Duplex> {
    if (this.stopped) return Promise.reject(new StreamsClosedError(this.context.sessionId));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.active) return Promise.resolve(this.activate());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      this.waiting.push(waiter);
      // A connection that goes away while waiting gives up its turn; no stream is made for it.
      signal?.addEventListener('abort', () => {
        const index = this.waiting.indexOf(waiter);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        reject(signal.reason);
      });
    });
  }

  recycle(): void {}

  receive(payloadType: number, payload: Buffer): boolean {
    if (payloadType === PayloadType.Flag) {
      this.noteFlag(payload);
      return true;
    }
    if (payloadType !== PayloadType.Output) return true;
    const stream = this.active;
    // No stream yet: leave the frame unacknowledged, as the official client does.
    if (!stream) return false;
    if (!stream.push(payload)) this.gate.hold(stream);
    return true;
  }

  signal(name: NodeJS.Signals): boolean {
    return endOnTerminateSignal(this.context, name, false);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.active?.destroy();
    for (const waiter of this.waiting.splice(0)) {
      waiter.reject(new StreamsClosedError(this.context.sessionId));
    }
  }

  private activate(): BasicStream {
    const stream = new BasicStream({
      send: (chunk, done) => this.send(chunk, done),
      readMore: () => this.gate.release(stream),
      closed: () => this.onClosed(stream),
    });
    this.active = stream;
    return stream;
  }

  /** A stream write completes once the channel window has room again. */
  private send(chunk: Buffer, done: (err?: Error | null) => void): void {
    if (sendOutput(this.context.channel, chunk)) done();
    else this.context.channel.once('drain', () => done());
  }

  private onClosed(stream: BasicStream): void {
    if (this.active !== stream) return;
    this.active = undefined;
    this.gate.forget(stream);
    if (this.stopped) return;
    if (!this.reusable) {
      this.context.end({ reason: 'the stream was closed' });
      return;
    }
    this.context.logger.debug('stream closed: DisconnectToPort');
    this.context.channel.send(PayloadType.Flag, encodeFlag(FlagCode.DisconnectToPort));
    const next = this.waiting.shift();
    if (next) next.resolve(this.activate());
  }
}

interface Waiter {
  resolve: (stream: Duplex) => void;
  reject: (err: unknown) => void;
}

interface BasicStreamLink {
  send(chunk: Buffer, done: (err?: Error | null) => void): void;
  readMore(): void;
  closed(): void;
}

/** The session's byte stream as a Duplex; writes complete when the channel window has room. */
class BasicStream extends Duplex {
  readonly #link: BasicStreamLink;

  constructor(link: BasicStreamLink) {
    super({ allowHalfOpen: true });
    this.#link = link;
  }

  override _read(): void {
    this.#link.readMore();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#link.send(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#link.closed();
    callback(err);
  }
}
