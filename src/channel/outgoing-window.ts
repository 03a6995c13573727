import type { DeliverySnapshot } from './congestion-window.ts';

/** One sequenced frame sent and not yet acknowledged. */
export interface PendingFrame extends DeliverySnapshot {
  sequenceNumber: number;
  bytes: Buffer;
  /**
   * Time of the latest transmission; meaningless while `sends` is 0. Always a number: a
   * field that ever held undefined is stored as a pointer, so every timestamp written to
   * it was a fresh heap number, kept by this long-lived entry until it reached the old
   * generation (a fifth of what an upload promoted there).
   */
  lastSent: number;
  sends: number;
}

/**
 * The unacknowledged frames, oldest first. Bounded by `limit` in the sense that callers
 * are told to stop producing when it is full; nothing is ever dropped (unlike the
 * official client, quirk Q22).
 *
 * Sequence numbers are added consecutively, so the frames live in a ring indexed by
 * sequence number (grown when needed), and entry objects are recycled through release():
 * at tens of thousands of frames a second, per-frame objects that live until their ack
 * would otherwise fill the old generation with garbage.
 */
export class OutgoingWindow {
  readonly limit: number;
  private slots: Array<PendingFrame | undefined>;
  /** Every sequence number below this is acknowledged. */
  private base = 0;
  /** One past the newest sequence number added. */
  private end = 0;
  private count = 0;
  private readonly spare: PendingFrame[] = [];

  constructor(limit: number) {
    this.limit = limit;
    const capacity = Math.max(16, limit);
    this.slots = new Array<PendingFrame | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  /** Adds the frame for `sequenceNumber`, which must follow the previous one. */
  add(sequenceNumber: number, bytes: Buffer): PendingFrame {
    if (this.count === 0) this.base = this.end = sequenceNumber;
    else if (sequenceNumber !== this.end) throw new RangeError(`sequence ${sequenceNumber} added after ${this.end - 1}`);
    if (this.end - this.base >= this.slots.length) this.grow();
    const entry = this.spare.pop() ?? {
      sequenceNumber,
      bytes,
      lastSent: 0,
      sends: 0,
      deliveredAtSend: 0,
      deliveredTimeAtSend: 0,
      firstSentTimeAtSend: 0,
      sentTime: 0,
    };
    entry.sequenceNumber = sequenceNumber;
    entry.bytes = bytes;
    entry.lastSent = 0;
    entry.sends = 0;
    this.slots[sequenceNumber % this.slots.length] = entry;
    this.end++;
    this.count++;
    return entry;
  }

  /** Removes and returns the entry for an acknowledged sequence number, if any. */
  acknowledge(sequenceNumber: number): PendingFrame | undefined {
    if (sequenceNumber < this.base || sequenceNumber >= this.end) return undefined;
    const index = sequenceNumber % this.slots.length;
    const entry = this.slots[index];
    if (entry === undefined || entry.sequenceNumber !== sequenceNumber) return undefined;
    this.slots[index] = undefined;
    this.count--;
    while (this.base < this.end && this.slots[this.base % this.slots.length] === undefined) this.base++;
    return entry;
  }

  /** Hands an acknowledged entry back for reuse once the caller is done with it. */
  release(entry: PendingFrame): void {
    if (this.spare.length >= this.limit) return;
    entry.bytes = EMPTY;
    this.spare.push(entry);
  }

  oldest(): PendingFrame | undefined {
    for (let seq = this.base; seq < this.end; seq++) {
      const entry = this.slots[seq % this.slots.length];
      if (entry !== undefined) return entry;
    }
    return undefined;
  }

  *values(): IterableIterator<PendingFrame> {
    for (let seq = this.base; seq < this.end; seq++) {
      const entry = this.slots[seq % this.slots.length];
      if (entry !== undefined && entry.sequenceNumber === seq) yield entry;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array<PendingFrame | undefined>(old.length * 2).fill(undefined);
    for (let seq = this.base; seq < this.end; seq++) this.slots[seq % this.slots.length] = old[seq % old.length];
  }
}

const EMPTY = Buffer.alloc(0);
