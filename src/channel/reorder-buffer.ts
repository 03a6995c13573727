import type { Frame } from '../protocol/frame.ts';

/** Frames that arrived ahead of the next expected sequence number (§6.5). */
export class ReorderBuffer {
  readonly capacity: number;
  private readonly frames = new Map<number, Frame>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.frames.size;
  }

  /** Stores a frame; false when full (the caller then drops it without an ack). */
  store(frame: Frame): boolean {
    if (this.frames.has(frame.sequenceNumber)) return true;
    if (this.frames.size >= this.capacity) return false;
    this.frames.set(frame.sequenceNumber, frame);
    return true;
  }

  peek(sequenceNumber: number): Frame | undefined {
    return this.frames.get(sequenceNumber);
  }

  delete(sequenceNumber: number): void {
    this.frames.delete(sequenceNumber);
  }

  clear(): void {
    this.frames.clear();
  }
}
