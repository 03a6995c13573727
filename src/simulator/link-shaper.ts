/**
 * The timing of one direction of a simulated network path: a bottleneck of
 * `bytesPerSecond` (each frame occupies the link for its serialisation time, frames queue
 * behind each other, nothing is dropped) followed by a propagation delay of `latencyMs`
 * plus a uniformly drawn 0..`jitterMs`. Arrivals never overtake each other, as on one TCP
 * connection. Pure arithmetic on the times it is given, so it can be tested without a clock.
 */
export interface LinkShape {
  /** One-way propagation delay in milliseconds. */
  latencyMs: number;
  /** Extra one-way delay drawn uniformly from 0..jitterMs per frame; order is kept. */
  jitterMs: number;
  /** Bottleneck rate in bytes per second; 0 means unlimited. */
  bytesPerSecond: number;
}

export class LinkShaper {
  /** When the bottleneck finishes sending what is queued on it. */
  private linkFreeAt = 0;
  /** Arrival time of the latest scheduled frame. */
  private lastArrival = 0;

  /** True when a frame sent now would arrive now (nothing to shape, nothing queued). */
  passesThrough(shape: LinkShape, now: number): boolean {
    return shape.latencyMs <= 0 && shape.jitterMs <= 0 && shape.bytesPerSecond <= 0 && this.lastArrival <= now;
  }

  /**
   * The arrival time of a frame of `size` bytes handed to the link at `now`; `random`
   * gives a number in 0..1 for the jitter.
   */
  schedule(shape: LinkShape, now: number, size: number, random: () => number): number {
    let departs = now;
    if (shape.bytesPerSecond > 0) {
      departs = Math.max(now, this.linkFreeAt) + (size * 1000) / shape.bytesPerSecond;
      this.linkFreeAt = departs;
    }
    const jitter = shape.jitterMs > 0 ? random() * shape.jitterMs : 0;
    const arrives = Math.max(departs + Math.max(0, shape.latencyMs) + jitter, this.lastArrival);
    this.lastArrival = arrives;
    return arrives;
  }

  /** Forgets the queue (frames scheduled so far are discarded by the owner). */
  reset(): void {
    this.linkFreeAt = 0;
    this.lastArrival = 0;
  }
}
