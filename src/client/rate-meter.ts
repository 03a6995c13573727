/** How far back throughput looks. */
const WINDOW_MS = 2000;

/**
 * Throughput of two growing byte counters over the last couple of seconds, from samples
 * taken at least every `sample()` call (the owner calls it on a timer).
 */
export class RateMeter {
  private readonly samples: Array<{ at: number; up: number; down: number }> = [];
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  sample(up: number, down: number): void {
    const at = this.now();
    this.samples.push({ at, up, down });
    // Keep one sample at or beyond the window's start, so the rate spans the full window.
    while (this.samples.length > 2 && at - this.samples[1]!.at >= WINDOW_MS) this.samples.shift();
  }

  /** Bytes per second since the oldest kept sample; 0 until there is one. */
  rates(up: number, down: number): { up: number; down: number } {
    const oldest = this.samples[0];
    const elapsed = oldest ? (this.now() - oldest.at) / 1000 : 0;
    if (!oldest || elapsed <= 0) return { up: 0, down: 0 };
    return { up: (up - oldest.up) / elapsed, down: (down - oldest.down) / elapsed };
  }
}
