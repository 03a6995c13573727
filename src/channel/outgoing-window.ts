/** One sequenced frame sent and not yet acknowledged. */
export interface PendingFrame {
  readonly sequenceNumber: number;
  readonly bytes: Buffer;
  /** Time of the latest transmission; undefined until first sent. */
  lastSent: number | undefined;
  sends: number;
}

/**
 * The unacknowledged frames, oldest first. Bounded by `limit` in the sense that callers
 * are told to stop producing when it is full; nothing is ever dropped (unlike the
 * official client, quirk Q22).
 */
export class OutgoingWindow {
  readonly limit: number;
  private readonly pending = new Map<number, PendingFrame>();

  constructor(limit: number) {
    this.limit = limit;
  }

  get size(): number {
    return this.pending.size;
  }

  get full(): boolean {
    return this.pending.size >= this.limit;
  }

  add(sequenceNumber: number, bytes: Buffer): PendingFrame {
    const entry: PendingFrame = { sequenceNumber, bytes, lastSent: undefined, sends: 0 };
    this.pending.set(sequenceNumber, entry);
    return entry;
  }

  /** Removes and returns the entry for an acknowledged sequence number, if any. */
  acknowledge(sequenceNumber: number): PendingFrame | undefined {
    const entry = this.pending.get(sequenceNumber);
    if (entry) this.pending.delete(sequenceNumber);
    return entry;
  }

  oldest(): PendingFrame | undefined {
    for (const entry of this.pending.values()) return entry;
    return undefined;
  }

  values(): IterableIterator<PendingFrame> {
    return this.pending.values();
  }
}
