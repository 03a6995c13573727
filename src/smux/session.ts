import { EventEmitter } from 'node:events';
import {
  CMD_FIN,
  CMD_NOP,
  CMD_PSH,
  CMD_SYN,
  FrameParser,
  HEADER_SIZE,
  MAX_FRAME_LENGTH,
  MAX_FRAME_SIZE,
  MAX_STREAM_ID,
  SmuxProtocolError,
  encodeFrame,
  encodeFrameInto,
  type SmuxFrame,
} from './frame.ts';
import { SmuxStream, type SmuxStreamLink } from './stream.ts';
import { StreamScheduler } from './stream-scheduler.ts';

export interface SmuxKeepAliveOptions {
  /** A NOP is sent this often. */
  intervalMs: number;
  /** The session closes when no frame arrived during a window this long. */
  timeoutMs: number;
}

/** The official settings (PROTOCOL.md §7.3.4), used when `keepAlive` is omitted. */
export const DEFAULT_KEEPALIVE: SmuxKeepAliveOptions = { intervalMs: 10_000, timeoutMs: 30_000 };
/** The official MaxReceiveBuffer: carrier input should stop above this many unread bytes. */
export const DEFAULT_RECEIVE_BUFFER_LIMIT = 4 * 1024 * 1024;

export interface SmuxSessionOptions {
  /** 'client' opens odd stream ids 3, 5, 7…; 'server' opens even ids 2, 4, 6…. */
  role: 'client' | 'server';
  /**
   * Hands encoded bytes to the carrier, which takes ownership of the Buffer. Returns false
   * when the carrier is full: the session then makes no further call until
   * carrierDrained(), and stream writes wait (their callbacks are held back).
   */
  write: (bytes: Buffer) => boolean;
  /**
   * The carrier copies the bytes before write() returns (as a data channel encoding them
   * into frames does), so the session may encode every PSH frame into one reused Buffer
   * instead of allocating one per frame. Default false.
   */
  carrierCopies?: boolean;
  /** Keep-alive timers; false turns them off. Default 10 s / 30 s. */
  keepAlive?: SmuxKeepAliveOptions | false;
  /** Largest PSH payload sent (default and official value 32768, at most 65535). */
  maxFrameSize?: number;
  /** Unread received bytes at which `receiveFull` turns true (default 4 MiB). */
  receiveBufferLimit?: number;
  /** High-water mark of each stream's readable and writable sides (Node default otherwise). */
  streamHighWaterMark?: number;
  /**
   * Allocates the Buffer a received PSH frame is copied into when it straddles carrier
   * chunks (a pool lets the owner recycle them once written; default: a new Buffer).
   */
  allocate?: (size: number) => Buffer;
}

/** The session closed because no frame arrived during a keep-alive window. */
export class SmuxKeepAliveTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`smux keep-alive timeout: no frame received for ${timeoutMs} ms`);
    this.name = 'SmuxKeepAliveTimeoutError';
  }
}

type Done = (err?: Error | null) => void;

/** One queued outgoing frame, or for PSH a whole write that is cut into frames as sent. */
interface OutItem {
  cmd: number;
  streamId: number;
  data: Buffer | undefined;
  /** PSH: bytes of `data` already sent. */
  offset: number;
  done: Done | undefined;
}

/**
 * An smux v1 session over an arbitrary byte carrier (PROTOCOL.md §7.3.4): carrier bytes
 * come in through input(), encoded frames go out through the `write` option. No socket is
 * involved, so the carrier can be data-channel Output payloads.
 *
 * Backpressure wiring for an owner whose carrier is a data channel:
 * * Outgoing: `write` returns false when the channel window is full; call
 *   carrierDrained() on the channel's 'drain'. Until then nothing more is written and
 *   stream write callbacks wait, so piped sockets pause.
 * * Incoming: v1 has no per-stream flow control. Once `receiveFull` is set, stop
 *   feeding input() (the port handler stops reading the connection); resume on
 *   'receiveDrain'.
 *
 * Events:
 * * 'stream' (stream: SmuxStream): the peer opened a stream with SYN.
 * * 'receiveDrain': `receiveFull` was true and a consumer has since read enough for
 *   it to be false again; resume feeding input().
 * * 'streamWaiting' (streamId: number): a stream that had nothing queued queued a frame
 *   while the carrier is full. It goes out first once the carrier drains, so an owner
 *   whose carrier drains in batches (a window reopening by an eighth) may ask for room
 *   sooner: a keystroke then waits for one acknowledgement, not hundreds.
 * * 'close' (err?: Error): once, after close(), a protocol error (SmuxProtocolError) or a
 *   keep-alive timeout (SmuxKeepAliveTimeoutError). input() never throws for bad bytes.
 */
export class SmuxSession extends EventEmitter {
  readonly role: 'client' | 'server';
  readonly maxFrameSize: number;
  readonly receiveBufferLimit: number;

  private readonly writeToCarrier: (bytes: Buffer) => boolean;
  /** The reused PSH frame buffer when the carrier copies (see SmuxSessionOptions.carrierCopies). */
  private readonly frameScratch: Buffer | undefined;
  private readonly streamHighWaterMark: number | undefined;
  private readonly parser: FrameParser;
  private readonly streamMap = new Map<number, SmuxStream>();
  private nextStreamId: number;

  private isClosed = false;
  private closeError: Error | undefined;

  // Outgoing side: frames waiting for the carrier, one FIFO per stream, served round-robin
  // (only non-empty while the carrier is full).
  private readonly scheduler = new StreamScheduler<OutItem>();
  private waiters: Done[] = [];
  private blocked = false;
  private flushing = false;

  // Incoming side.
  private inputting = false;
  private receiveFullSeen = false;
  private drainCheckQueued = false;

  // Keep-alive.
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private frameSinceCheck = false;

  constructor(options: SmuxSessionOptions) {
    super();
    const maxFrameSize = options.maxFrameSize ?? MAX_FRAME_SIZE;
    if (!Number.isInteger(maxFrameSize) || maxFrameSize < 1 || maxFrameSize > MAX_FRAME_LENGTH) {
      throw new RangeError(`invalid smux maxFrameSize: ${maxFrameSize}`);
    }
    this.role = options.role;
    this.maxFrameSize = maxFrameSize;
    this.receiveBufferLimit = options.receiveBufferLimit ?? DEFAULT_RECEIVE_BUFFER_LIMIT;
    this.writeToCarrier = options.write;
    this.frameScratch = options.carrierCopies ? Buffer.allocUnsafe(HEADER_SIZE + maxFrameSize) : undefined;
    this.streamHighWaterMark = options.streamHighWaterMark;
    this.parser = new FrameParser(options.allocate ? { allocate: options.allocate } : {});
    this.nextStreamId = options.role === 'client' ? 3 : 2;
    const keepAlive = options.keepAlive === undefined ? DEFAULT_KEEPALIVE : options.keepAlive;
    if (keepAlive) this.startKeepAlive(keepAlive);
  }

  /** Open streams (those not yet destroyed). */
  get streams(): number {
    return this.streamMap.size;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The error the session closed with, if any. */
  get error(): Error | undefined {
    return this.closeError;
  }

  /** Received bytes not yet read, summed over all streams. */
  get totalReceiveBuffered(): number {
    let total = 0;
    for (const stream of this.streamMap.values()) total += stream.readableLength;
    return total;
  }

  /**
   * True when unread received bytes reached `receiveBufferLimit`: the owner should stop
   * feeding input() (leave carrier payloads unconsumed) until 'receiveDrain'.
   */
  get receiveFull(): boolean {
    const full = this.totalReceiveBuffered >= this.receiveBufferLimit;
    if (full) this.receiveFullSeen = true;
    return full;
  }

  /** Whether the carrier last said it was full (and carrierDrained() has not been called). */
  get carrierBlocked(): boolean {
    return this.blocked;
  }

  /** The stream with this id, if open. */
  getStream(id: number): SmuxStream | undefined {
    return this.streamMap.get(id);
  }

  /** Opens a stream: allocates the next id of our parity and sends SYN. */
  openStream(): SmuxStream {
    if (this.isClosed) throw new Error('smux session is closed');
    let id = this.nextStreamId;
    while (this.streamMap.has(id)) id += 2;
    if (id > MAX_STREAM_ID) throw new Error('smux stream ids exhausted');
    this.nextStreamId = id + 2;
    const stream = this.createStream(id);
    this.enqueue(CMD_SYN, id, undefined, undefined);
    return stream;
  }

  /**
   * Feeds carrier bytes in. The Buffer is kept by reference (received data may be a view
   * into it), so it must not be modified afterwards. Never throws for malformed bytes: a
   * protocol error closes the session ('close' with a SmuxProtocolError).
   */
  input(bytes: Buffer): void {
    if (this.isClosed || bytes.length === 0) return;
    this.parser.push(bytes);
    if (this.inputting) return; // re-entered from a stream consumer: the outer loop parses
    this.inputting = true;
    try {
      while (!this.isClosed) {
        let frame: SmuxFrame | null;
        try {
          frame = this.parser.next();
        } catch (err) {
          if (err instanceof SmuxProtocolError) {
            this.close(err);
            return;
          }
          throw err;
        }
        if (!frame) break;
        this.handleFrame(frame);
      }
    } finally {
      this.inputting = false;
    }
    if (!this.isClosed && this.totalReceiveBuffered >= this.receiveBufferLimit) this.receiveFullSeen = true;
  }

  /** The carrier has room again: send what was held back and release waiting writers. */
  carrierDrained(): void {
    this.blocked = false;
    this.flush();
  }

  /**
   * Closes the session: stops timers, drops unsent frames and destroys every stream (without
   * an error, so streams without 'error' listeners are safe; pipelines see a premature
   * close). Emits 'close' with `err` once.
   */
  close(err?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeError = err;
    this.stopKeepAlive();
    this.scheduler.clear();
    this.waiters = [];
    this.parser.reset();
    for (const stream of [...this.streamMap.values()]) stream.destroy();
    this.streamMap.clear();
    this.emit('close', err);
  }

  // ---- incoming ----

  private handleFrame(frame: SmuxFrame): void {
    this.frameSinceCheck = true;
    switch (frame.cmd) {
      case CMD_SYN: {
        if (this.streamMap.has(frame.streamId)) return; // duplicate SYN: ignored
        const stream = this.createStream(frame.streamId);
        this.emit('stream', stream);
        return;
      }
      case CMD_PSH:
        this.streamMap.get(frame.streamId)?.deliver(frame.data);
        return;
      case CMD_FIN:
        this.streamMap.get(frame.streamId)?.deliverFin();
        return;
      case CMD_NOP:
        return;
    }
  }

  private createStream(id: number): SmuxStream {
    let stream: SmuxStream | undefined;
    const link: SmuxStreamLink = {
      writeData: (data, done) => {
        if (this.isClosed) done(new Error('smux session is closed'));
        else if (data.length === 0) done();
        else this.enqueue(CMD_PSH, id, data, done);
      },
      writeFin: (done) => {
        if (this.isClosed) done(new Error('smux session is closed'));
        else this.enqueue(CMD_FIN, id, undefined, done);
      },
      readMore: () => this.queueReceiveDrainCheck(),
      closed: () => {
        if (this.streamMap.get(id) === stream) this.streamMap.delete(id);
        this.checkReceiveDrain();
      },
    };
    stream = new SmuxStream(
      id,
      link,
      this.streamHighWaterMark !== undefined ? { highWaterMark: this.streamHighWaterMark } : {},
    );
    this.streamMap.set(id, stream);
    return stream;
  }

  /**
   * Readable.read() calls _read before it takes the returned bytes out of the buffer, so
   * the totals are looked at once the current read has finished.
   */
  private queueReceiveDrainCheck(): void {
    if (!this.receiveFullSeen || this.drainCheckQueued) return;
    this.drainCheckQueued = true;
    queueMicrotask(() => {
      this.drainCheckQueued = false;
      this.checkReceiveDrain();
    });
  }

  private checkReceiveDrain(): void {
    if (!this.receiveFullSeen || this.isClosed) return;
    if (this.totalReceiveBuffered >= this.receiveBufferLimit) return;
    this.receiveFullSeen = false;
    this.emit('receiveDrain');
  }

  // ---- outgoing ----

  private enqueue(cmd: number, streamId: number, data: Buffer | undefined, done: Done | undefined): void {
    const fresh = this.scheduler.push(streamId, { cmd, streamId, data, offset: 0, done });
    if (fresh && this.blocked) this.emit('streamWaiting', streamId);
    this.flush();
  }

  /**
   * Sends queued frames until the carrier is full, one frame per stream in turn, so a
   * stream with a few bytes waits behind at most one frame of each busy stream, not
   * behind a bulk stream's whole backlog. Each stream's own frames keep their order (SYN,
   * data, FIN). Callbacks of completed items run only once nothing is queued and the
   * carrier is not full, which is what holds writers back. Re-entrant calls (from a
   * callback or from the carrier) return at once; the running loop picks up whatever
   * they queued.
   */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this.blocked && !this.isClosed) {
        const item = this.scheduler.next();
        if (item) {
          const finished = this.sendFrameOf(item);
          if (this.isClosed) return;
          this.scheduler.rotate(finished);
          if (finished && item.done) this.waiters.push(item.done);
          continue;
        }
        if (this.waiters.length > 0) {
          const waiters = this.waiters;
          this.waiters = [];
          for (const done of waiters) done();
          continue;
        }
        return;
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Writes the item's next frame; true when that was its last. */
  private sendFrameOf(item: OutItem): boolean {
    if (item.cmd !== CMD_PSH) {
      this.toCarrier(encodeFrame(item.cmd, item.streamId));
      return true;
    }
    const data = item.data!;
    const end = Math.min(item.offset + this.maxFrameSize, data.length);
    const chunk = data.subarray(item.offset, end);
    item.offset = end;
    const scratch = this.frameScratch;
    this.toCarrier(scratch ? encodeFrameInto(scratch, CMD_PSH, item.streamId, chunk) : encodeFrame(CMD_PSH, item.streamId, chunk));
    return end >= data.length;
  }

  private toCarrier(bytes: Buffer): void {
    if (!this.writeToCarrier(bytes)) this.blocked = true;
  }

  // ---- keep-alive ----

  private startKeepAlive(options: SmuxKeepAliveOptions): void {
    this.keepAliveTimer = setInterval(() => this.enqueue(CMD_NOP, 0, undefined, undefined), options.intervalMs);
    this.keepAliveTimer.unref();
    this.timeoutTimer = setInterval(() => {
      if (this.frameSinceCheck) {
        this.frameSinceCheck = false;
        return;
      }
      // Nothing arrived, but not because we stopped reading: the owner holds input back
      // while receive buffers are full, and that must not count as a dead peer.
      if (this.totalReceiveBuffered >= this.receiveBufferLimit) return;
      this.close(new SmuxKeepAliveTimeoutError(options.timeoutMs));
    }, options.timeoutMs);
    this.timeoutTimer.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    if (this.timeoutTimer) clearInterval(this.timeoutTimer);
    this.keepAliveTimer = undefined;
    this.timeoutTimer = undefined;
  }
}
