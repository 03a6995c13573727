import { setTimeout as sleep } from 'node:timers/promises';
import { STREAM_CHUNK_SIZE } from '../../protocol/constants.ts';
import { splitAgentUtf8 } from './utf8-tail.ts';
import { Wakeup } from './wakeup.ts';

/**
 * Turns an event-driven byte source (node-pty) into the agent's read loop (§11.2): after
 * an initial delay, take at most 1024 bytes per frame, sleep 1 ms between frames, never
 * send an empty payload, and optionally hold back UTF-8 as the agent does (utf8-tail.ts;
 * what is still held when the source ends is dropped, as the agent's loops drop it).
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
  /**
   * Bytes to put in front of one read (after anything held back from the last one), given
   * that read: the separate-stream prefixes of NonInteractiveCommands.
   */
  readPrefix?: (read: Buffer) => Buffer;
  /**
   * Checked before every read: true makes the loop give up for good, leaving the source
   * paused (the agent's pipe readers stop when publication is paused).
   */
  givesUpWhen?: () => boolean;
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
  private gaveUpFlag = false;

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

  /** True once the loop gave up (see givesUpWhen). */
  get gaveUp(): boolean {
    return this.gaveUpFlag;
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
      if (this.options.givesUpWhen?.()) {
        this.gaveUpFlag = true;
        this.options.pauseSource();
        return;
      }
      // The read: it waits for data (or the end), whatever the channel does meanwhile.
      while (this.queuedBytes === 0 && !this.ended && !this.aborted) await this.wakeup.wait();
      if (this.aborted) return;
      if (this.queuedBytes === 0) return; // the end; anything held back is dropped
      while (this.options.isPaused() && !this.aborted) await this.wakeup.wait();
      if (this.aborted) return;
      this.sendChunk(this.take(this.chunkSize));
      if (this.options.pacing) await sleep(1);
    }
  }

  private sendChunk(chunk: Buffer): void {
    const prefix = this.options.readPrefix?.(chunk);
    const parts = [this.heldBack, prefix, chunk].filter((part): part is Buffer => part !== undefined && part.length > 0);
    const data = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    let out = data;
    if (this.options.holdBackPartialUtf8) {
      const split = splitAgentUtf8(data);
      out = split.send;
      this.heldBack = split.hold;
    }
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
