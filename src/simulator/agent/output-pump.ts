import { setTimeout as sleep } from 'node:timers/promises';
import { STREAM_CHUNK_SIZE } from '../../protocol/constants.ts';
import { incompleteUtf8TailLength } from './utf8-tail.ts';
import { Wakeup } from './wakeup.ts';

/**
 * Turns an event-driven byte source (node-pty) into the agent's read loop (§11.2): after
 * an initial delay, take at most 1024 bytes per frame, sleep 1 ms between frames, never
 * send an empty payload, and optionally hold back a trailing partial UTF-8 character.
 * Queued bytes are bounded: the source is paused above the high-water mark and resumed
 * below the low-water mark. While the channel is not writable (publication paused, or the
 * client connection backed up) the loop stops taking bytes, so the source fills up and is
 * paused in turn: this is how backpressure from the client reaches the pty or socket.
 */
export interface OutputPumpOptions {
  send: (chunk: Buffer) => void;
  /**
   * True while the agent may not send: publication paused, or the service connection
   * backed up (the real agent's blocking WebSocket write). Call wake() when it clears.
   */
  isPaused: () => boolean;
  initialDelayMs: number;
  /** The agent's 1 ms sleep after every read (default true). */
  pacing: boolean;
  holdBackPartialUtf8: boolean;
  pauseSource: () => void;
  resumeSource: () => void;
  chunkSize?: number;
  highWaterBytes?: number;
  lowWaterBytes?: number;
}

const DEFAULT_HIGH_WATER = 1024 * 1024;
const DEFAULT_LOW_WATER = 256 * 1024;

export class OutputPump {
  private readonly options: OutputPumpOptions;
  private readonly chunkSize: number;
  private readonly highWater: number;
  private readonly lowWater: number;
  private readonly wakeup = new Wakeup();
  private readonly abortController = new AbortController();
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private heldBack: Buffer = Buffer.alloc(0);
  private sourcePaused = false;
  private ended = false;

  constructor(options: OutputPumpOptions) {
    this.options = options;
    this.chunkSize = options.chunkSize ?? STREAM_CHUNK_SIZE;
    this.highWater = options.highWaterBytes ?? DEFAULT_HIGH_WATER;
    this.lowWater = options.lowWaterBytes ?? DEFAULT_LOW_WATER;
  }

  get aborted(): boolean {
    return this.abortController.signal.aborted;
  }

  /** Bytes read from the source and not yet sent. */
  get pendingBytes(): number {
    return this.queuedBytes + this.heldBack.length;
  }

  /** Whether the source is currently paused (queued bytes went above the high-water mark). */
  get full(): boolean {
    return this.sourcePaused;
  }

  /** Queues bytes from the source; false once the source should stop (until resumeSource). */
  push(data: Buffer): boolean {
    if (data.length === 0 || this.ended || this.aborted) return !this.sourcePaused;
    this.queue.push(data);
    this.queuedBytes += data.length;
    if (!this.sourcePaused && this.queuedBytes > this.highWater) {
      this.sourcePaused = true;
      this.options.pauseSource();
    }
    this.wakeup.notify();
    return !this.sourcePaused;
  }

  /** The source reached EOF: send what is queued, then finish. */
  end(): void {
    this.ended = true;
    this.wakeup.notify();
  }

  /** Stops at once, discarding queued bytes (session cancelled). */
  abort(): void {
    this.abortController.abort();
    this.wakeup.notify();
  }

  /** Re-checks the pause state (call when publication resumes). */
  wake(): void {
    this.wakeup.notify();
  }

  /** The read loop; resolves once the source ended and everything was sent, or on abort. */
  async run(): Promise<void> {
    try {
      await sleep(this.options.initialDelayMs, undefined, { signal: this.abortController.signal });
    } catch {
      return; // aborted during the initial delay
    }
    while (!this.aborted) {
      if (this.options.isPaused()) {
        await this.wakeup.wait();
        continue;
      }
      if (this.queuedBytes === 0) {
        if (this.ended) {
          // A dangling partial character at EOF goes out as it is.
          if (this.heldBack.length > 0) this.options.send(this.heldBack);
          this.heldBack = Buffer.alloc(0);
          return;
        }
        await this.wakeup.wait();
        continue;
      }
      this.sendChunk(this.take(this.chunkSize));
      if (this.options.pacing) await sleep(1);
    }
  }

  private sendChunk(chunk: Buffer): void {
    const data = this.heldBack.length > 0 ? Buffer.concat([this.heldBack, chunk]) : chunk;
    const keep = this.options.holdBackPartialUtf8 ? incompleteUtf8TailLength(data) : 0;
    this.heldBack = Buffer.from(data.subarray(data.length - keep));
    const out = data.subarray(0, data.length - keep);
    if (out.length > 0) this.options.send(out);
  }

  private take(max: number): Buffer {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < max && this.queue.length > 0) {
      const head = this.queue[0] as Buffer;
      const room = max - size;
      if (head.length <= room) {
        parts.push(head);
        size += head.length;
        this.queue.shift();
      } else {
        parts.push(head.subarray(0, room));
        this.queue[0] = head.subarray(room);
        size += room;
      }
    }
    this.queuedBytes -= size;
    if (this.sourcePaused && this.queuedBytes < this.lowWater) {
      this.sourcePaused = false;
      this.options.resumeSource();
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
  }
}
