// smux protocol v1 framing (PROTOCOL.md §7.3.4): an 8-byte header
//   ver(1) | cmd(1) | length(2, little-endian) | streamId(4, little-endian)
// followed by `length` data bytes.

/** The only protocol version spoken here. */
export const VERSION = 1;

/** Open a stream (no data). */
export const CMD_SYN = 0;
/** The sender will write no more on this stream (no data). */
export const CMD_FIN = 1;
/** Stream data. */
export const CMD_PSH = 2;
/** Keep-alive, stream id 0. */
export const CMD_NOP = 3;
/** v2 window update: never sent, and a protocol error when received in v1. */
export const CMD_UPD = 4;

/** Command numbers by name. */
export const Cmd = { SYN: CMD_SYN, FIN: CMD_FIN, PSH: CMD_PSH, NOP: CMD_NOP, UPD: CMD_UPD } as const;

export const HEADER_SIZE = 8;
/** Largest PSH payload a sender produces (larger writes are split). */
export const MAX_FRAME_SIZE = 32768;
/** Largest length the 16-bit header field can carry. */
export const MAX_FRAME_LENGTH = 0xffff;
export const MAX_STREAM_ID = 0xffffffff;

/** One parsed frame. `data` may be a view into a Buffer that was fed to the parser. */
export interface SmuxFrame {
  version: number;
  cmd: number;
  streamId: number;
  data: Buffer;
}

/** A malformed byte stream (wrong version, unknown command): fatal for the session. */
export class SmuxProtocolError extends Error {
  readonly version: number;
  readonly cmd: number;
  constructor(message: string, version: number, cmd: number) {
    super(`smux protocol error: ${message}`);
    this.name = 'SmuxProtocolError';
    this.version = version;
    this.cmd = cmd;
  }
}

const EMPTY = Buffer.alloc(0);

/** Whether `cmd` is a valid command in protocol v1. */
export function isV1Command(cmd: number): boolean {
  return cmd === CMD_SYN || cmd === CMD_FIN || cmd === CMD_PSH || cmd === CMD_NOP;
}

/** Encodes one frame into a new Buffer (header and data in one piece). */
export function encodeFrame(cmd: number, streamId: number, data?: Buffer): Buffer {
  return encodeFrameInto(Buffer.allocUnsafe(HEADER_SIZE + (data ? data.length : 0)), cmd, streamId, data);
}

/** encodeFrame into the start of `target` (which must be large enough); returns the frame's view. */
export function encodeFrameInto(target: Buffer, cmd: number, streamId: number, data?: Buffer): Buffer {
  const length = data ? data.length : 0;
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`smux frame data too long: ${length} bytes`);
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > MAX_STREAM_ID) {
    throw new RangeError(`invalid smux stream id: ${streamId}`);
  }
  const bytes = target.subarray(0, HEADER_SIZE + length);
  bytes[0] = VERSION;
  bytes[1] = cmd;
  bytes.writeUInt16LE(length, 2);
  bytes.writeUInt32LE(streamId, 4);
  if (data && length > 0) data.copy(bytes, HEADER_SIZE);
  return bytes;
}

/**
 * Incremental frame parser: push() carrier bytes cut anywhere, then call next() until it
 * returns null. Input Buffers are kept by reference (not copied), and a frame whose data
 * lies inside one input Buffer is returned as a view into it, so callers must not modify
 * a Buffer after pushing it. Only a frame that straddles input Buffers is copied, once.
 */
export class FrameParser {
  /** Where copies of frames that straddle input Buffers go (a new Buffer by default). */
  private readonly allocate: (size: number) => Buffer;
  private chunks: Buffer[] = [];
  /** Index of the first unconsumed chunk. */
  private head = 0;
  /** Bytes already consumed from chunks[head]. */
  private offset = 0;
  /** Unconsumed bytes across all chunks. */
  private available = 0;
  /** Header of the frame whose data has not fully arrived yet. */
  private pendingCmd = -1;
  private pendingStreamId = 0;
  private pendingLength = 0;
  private failure: SmuxProtocolError | undefined;
  private readonly scratch = Buffer.allocUnsafe(HEADER_SIZE);

  constructor(options: { allocate?: (size: number) => Buffer } = {}) {
    this.allocate = options.allocate ?? ((size) => Buffer.allocUnsafe(size));
  }

  /** Bytes pushed but not yet returned as frames. */
  get buffered(): number {
    return this.available + (this.pendingCmd >= 0 ? HEADER_SIZE : 0);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /**
   * The next complete frame, or null when more bytes are needed. Throws
   * SmuxProtocolError on a wrong version or unknown command, and keeps throwing it.
   */
  next(): SmuxFrame | null {
    if (this.failure) throw this.failure;
    if (this.pendingCmd < 0) {
      if (this.available < HEADER_SIZE) return null;
      const header = this.take(HEADER_SIZE, this.scratch);
      const version = header[0]!;
      const cmd = header[1]!;
      if (version !== VERSION) {
        this.fail(new SmuxProtocolError(`unsupported version ${version}`, version, cmd));
      }
      if (!isV1Command(cmd)) {
        this.fail(new SmuxProtocolError(`unknown command ${cmd}`, version, cmd));
      }
      this.pendingCmd = cmd;
      this.pendingLength = header.readUInt16LE(2);
      this.pendingStreamId = header.readUInt32LE(4);
    }
    const length = this.pendingLength;
    if (this.available < length) return null;
    const frame: SmuxFrame = {
      version: VERSION,
      cmd: this.pendingCmd,
      streamId: this.pendingStreamId,
      data: length === 0 ? EMPTY : this.take(length),
    };
    this.pendingCmd = -1;
    return frame;
  }

  /** Drops everything buffered. */
  reset(): void {
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.available = 0;
    this.pendingCmd = -1;
    this.failure = undefined;
  }

  private fail(err: SmuxProtocolError): never {
    this.failure = err;
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.available = 0;
    throw err;
  }

  /**
   * Consumes `n` (≤ available) bytes: a view when they lie in one chunk, otherwise a copy
   * into `into` (or a new Buffer).
   */
  private take(n: number, into?: Buffer): Buffer {
    this.available -= n;
    const first = this.chunks[this.head]!;
    const start = this.offset;
    if (first.length - start >= n) {
      const end = start + n;
      if (end === first.length) this.advanceChunk();
      else this.offset = end;
      return first.subarray(start, end);
    }
    const out = into ?? this.allocate(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(chunk.length - this.offset, n - filled);
      chunk.copy(out, filled, this.offset, this.offset + count);
      filled += count;
      if (this.offset + count === chunk.length) this.advanceChunk();
      else this.offset += count;
    }
    return out;
  }

  private advanceChunk(): void {
    this.chunks[this.head] = EMPTY; // release the reference
    this.head++;
    this.offset = 0;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
