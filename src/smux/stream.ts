import { Duplex } from 'node:stream';

/** What a stream needs from its session; the session builds one per stream. */
export interface SmuxStreamLink {
  /** Sends `data` as PSH frames; `done` once all of it is handed to the carrier. */
  writeData(data: Buffer, done: (err?: Error | null) => void): void;
  /** Sends a FIN; `done` once it is handed to the carrier. */
  writeFin(done: (err?: Error | null) => void): void;
  /** The consumer asked for more data (receive buffers shrank). */
  readMore(): void;
  /** The stream is destroyed: forget it. */
  closed(): void;
}

export interface SmuxStreamOptions {
  /** Readable and writable high-water marks (bytes); Node's default otherwise. */
  highWaterMark?: number;
}

/**
 * One smux stream as a Node Duplex, so it can be piped to a socket.
 *
 * * Writing sends PSH frames (split at the session's MaxFrameSize); a write's callback
 *   runs once its bytes are handed to the carrier, so a full carrier holds writers back.
 * * end() sends FIN after the pending data; a FIN from the peer ends the readable side.
 *   Each direction closes independently (allowHalfOpen); the owner decides whether one
 *   side ending should close the other.
 * * destroy() sends FIN if none was sent yet and removes the stream from its session.
 * * Received data is pushed as it arrives: smux v1 has no per-stream flow control, so
 *   the readable buffer may grow beyond the high-water mark. `receiveBuffered` exposes
 *   it so the session owner can stop feeding carrier input.
 */
export class SmuxStream extends Duplex {
  /** The smux stream id. */
  readonly id: number;
  #link: SmuxStreamLink;
  #finSent = false;
  #finReceived = false;

  constructor(id: number, link: SmuxStreamLink, options: SmuxStreamOptions = {}) {
    super({
      allowHalfOpen: true,
      ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {}),
    });
    this.id = id;
    this.#link = link;
  }

  /** Received bytes not yet read by the consumer. */
  get receiveBuffered(): number {
    return this.readableLength;
  }

  /** Whether our FIN has been queued (by end() after the pending data, or destroy()). */
  get finSent(): boolean {
    return this.#finSent;
  }

  /** Whether the peer's FIN arrived. */
  get finReceived(): boolean {
    return this.#finReceived;
  }

  /** Session side: PSH data for this stream arrived. */
  deliver(data: Buffer): void {
    if (this.#finReceived || this.destroyed || data.length === 0) return;
    this.push(data);
  }

  /** Session side: the peer's FIN arrived. */
  deliverFin(): void {
    if (this.#finReceived || this.destroyed) return;
    this.#finReceived = true;
    this.push(null);
  }

  override _read(): void {
    this.#link.readMore();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#link.writeData(chunk, callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (err?: Error | null) => void,
  ): void {
    if (chunks.length === 1) {
      this.#link.writeData(chunks[0]!.chunk, callback);
      return;
    }
    // Coalesce small buffered writes so they fill frames instead of each making one.
    this.#link.writeData(Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#finSent = true;
    this.#link.writeFin(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.#finSent) {
      this.#finSent = true;
      this.#link.writeFin(noop);
    }
    this.#link.closed();
    callback(err);
  }
}

function noop(): void {}
