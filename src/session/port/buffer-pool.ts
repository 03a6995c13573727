/**
 * Recycles the Buffers that received smux data is copied into. With a slow local reader
 * those copies wait long enough to be promoted to V8's old generation, and once written
 * they lingered there as garbage until a full GC: tens of MiB of private memory for a
 * 1 MiB receive buffer. Reused Buffers never become garbage.
 *
 * A Buffer is lent by allocate() and comes back through release() once nothing holds it
 * (the socket write that took it has completed). Buffers that never come back are simply
 * collected; release() ignores Buffers that are not out on loan from this pool.
 */
export class BufferPool {
  readonly slabSize: number;
  private readonly maxFree: number;
  private readonly free: ArrayBuffer[] = [];
  private readonly lent = new WeakSet<ArrayBuffer>();

  /** `slabSize`: the largest request served from the pool; `maxFree`: slabs kept idle. */
  constructor(slabSize: number, maxFree: number) {
    this.slabSize = slabSize;
    this.maxFree = maxFree;
  }

  /** Slabs waiting to be reused. */
  get idle(): number {
    return this.free.length;
  }

  allocate(size: number): Buffer {
    if (size > this.slabSize) return Buffer.allocUnsafe(size);
    const slab = this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabSize).buffer;
    this.lent.add(slab);
    return Buffer.from(slab, 0, size);
  }

  release(chunk: Buffer): void {
    const slab = chunk.buffer;
    if (!(slab instanceof ArrayBuffer) || !this.lent.has(slab)) return;
    this.lent.delete(slab);
    if (this.free.length < this.maxFree) this.free.push(slab);
  }
}
