/**
 * Binary WebSocket messages of one event-loop turn, framed here and written to the
 * socket as one Buffer at the end of the turn: one write() and one syscall for a burst
 * of data frames or the acks of one read. Framing each message through `ws` costs a
 * header Buffer, two queued writes and a scatter entry each, and that per-message work
 * was most of what an upload spent outside hashing; a copy of 1 KiB is far cheaper.
 *
 * Only for a client whose masking key is zero (maskingIsMoot): the header still says
 * "masked" with a zero key, as RFC 6455 §5.3 requires of a client, and the payload goes
 * as is, exactly as `ws` writes it with a zero key.
 */

/** Messages are written at once when this many bytes wait (the copy stays small). */
export const BATCH_FLUSH_BYTES = 128 * 1024;
/**
 * Batches are copied into reused buffers of this size (any batch that fits: the flush
 * point plus one full data-channel frame): fresh memory per batch cost more than the copy
 * (page faults on every new buffer). One returns once the socket has written it.
 */
const SLAB_BYTES = BATCH_FLUSH_BYTES + 2048;
/** Spare buffers kept: what a burst leaves behind stays small. */
const SPARE_SLABS = 4;

const FIN_BINARY = 0x82;
const MASKED = 0x80;

/** Header bytes of a masked message of `length` bytes (RFC 6455 §5.2). */
export function maskedHeaderLength(length: number): number {
  return length < 126 ? 6 : length < 0x1_0000 ? 8 : 14;
}

/** Writes a FIN binary header with a zero masking key at `offset`; returns the offset after it. */
function writeHeader(out: Buffer, offset: number, length: number): number {
  out[offset++] = FIN_BINARY;
  if (length < 126) {
    out[offset++] = MASKED | length;
  } else if (length < 0x1_0000) {
    out[offset++] = MASKED | 126;
    out[offset++] = length >>> 8;
    out[offset++] = length & 0xff;
  } else {
    out[offset++] = MASKED | 127;
    out.writeUInt32BE(0, offset); // lengths beyond 2^32 are never sent
    out.writeUInt32BE(length, offset + 4);
    offset += 8;
  }
  // The masking key (byte stores: writeUInt32BE's argument checks cost more).
  out[offset] = 0;
  out[offset + 1] = 0;
  out[offset + 2] = 0;
  out[offset + 3] = 0;
  return offset + 4;
}

export interface BatchSink {
  write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean;
}

export class MessageBatch {
  private readonly sink: () => BatchSink | undefined;
  private messages: Buffer[] = [];
  private written: Array<() => void> = [];
  private bytes = 0;
  private scheduled = false;
  private readonly spare: Buffer[] = [];

  /** `sink` gives the socket at flush time; undefined (gone) drops the batch. */
  constructor(sink: () => BatchSink | undefined) {
    this.sink = sink;
  }

  /** Framed bytes waiting for the end of the turn. */
  get pendingBytes(): number {
    return this.bytes;
  }

  /** Queues one message; `written` runs once it (and everything before it) is written. */
  add(message: Buffer, written?: () => void): void {
    this.messages.push(message);
    this.bytes += maskedHeaderLength(message.length) + message.length;
    if (written) this.written.push(written);
    if (this.bytes >= BATCH_FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushAtTurnEnd);
    }
  }

  /** Writes what waits now (before a close frame, for one). */
  flush(): void {
    if (this.messages.length === 0) return;
    const messages = this.messages;
    const written = this.written;
    const bytes = this.bytes;
    this.messages = [];
    this.written = [];
    this.bytes = 0;
    const sink = this.sink();
    if (!sink) return;
    const slab = bytes <= SLAB_BYTES ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES)) : undefined;
    const out = slab ? slab.subarray(0, bytes) : Buffer.allocUnsafe(bytes);
    let offset = 0;
    for (const message of messages) {
      offset = writeHeader(out, offset, message.length);
      out.set(message, offset);
      offset += message.length;
    }
    sink.write(out, () => {
      // Written (or failed): the socket no longer reads the slab.
      if (slab && this.spare.length < SPARE_SLABS) this.spare.push(slab);
      for (const done of written) done();
    });
  }

  /** Spare buffers held for the next batches (for tests). */
  get spareBuffers(): number {
    return this.spare.length;
  }

  /** Drops what waits (the connection is gone). */
  clear(): void {
    this.messages = [];
    this.written = [];
    this.bytes = 0;
  }

  private readonly flushAtTurnEnd = (): void => {
    this.scheduled = false;
    this.flush();
  };
}
