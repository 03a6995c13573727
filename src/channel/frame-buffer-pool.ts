/**
 * Reuses the buffers of acknowledged frames. At full speed a session encodes ~50 000
 * frames a second; each waits in the window for its ack long enough to survive a young
 * generation GC, so fresh buffers would pile up as old-generation garbage (tens of MiB
 * between full collections). A frame buffer goes back only when its frame was
 * transmitted once and then acknowledged: the peer had all its bytes, so no socket write
 * still refers to it. Resent frames are left to the GC (a copy may still be queued).
 */
export class FrameBufferPool {
  readonly slotSize: number;
  private readonly maxFree: number;
  private readonly free: Buffer[] = [];

  constructor(slotSize: number, maxFree: number) {
    this.slotSize = slotSize;
    this.maxFree = maxFree;
  }

  /** A buffer of exactly `size` bytes (contents undefined). */
  take(size: number): Buffer {
    if (size > this.slotSize) return Buffer.allocUnsafe(size);
    const slot = this.free.pop() ?? Buffer.allocUnsafeSlow(this.slotSize);
    return size === this.slotSize ? slot : slot.subarray(0, size);
  }

  /** Returns a buffer obtained from take(); anything else is ignored. */
  give(buffer: Buffer): void {
    if (this.free.length >= this.maxFree || buffer.byteOffset !== 0 || buffer.buffer.byteLength !== this.slotSize) return;
    this.free.push(buffer.length === this.slotSize ? buffer : Buffer.from(buffer.buffer, 0, this.slotSize));
  }

  get available(): number {
    return this.free.length;
  }
}
