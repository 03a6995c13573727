/**
 * How many frames may be unacknowledged, sized to the path: about `gain` times its
 * bandwidth-delay product, measured from acknowledgements (BBR-style delivery-rate
 * samples, the largest of the recent ones, times the smallest RTT of the connection).
 *
 * A fixed window caps throughput at window / RTT (1024 frames of 1 KiB is ~8 MB/s at
 * 120 ms); a fixed large one queues every interactive byte behind it. So the window:
 * - starts at `initial` and grows by one frame per acknowledgement (doubling per round
 *   trip) up to 2.89 × rate × min RTT while the delivery rate still grows (startup);
 * - once three round trips in a row brought less than 25 % more rate, or a whole round
 *   trip's RTTs stayed a quarter above the smallest (a queue of our own), keeps close to
 *   gain × rate × min RTT;
 * - after a round with such a queue (in any phase), measures the rate again from what
 *   that round delivered, so the window drains to the path's present rate;
 * - never goes below `floor` (what the loopback pipeline needs to stay busy) nor above
 *   `max` (well below the agent's 100 000-frame buffer, PROTOCOL §6.3, §6.5);
 * - halves on a retransmission timeout, down to `minimum`, and grows back by one frame
 *   per acknowledgement.
 *
 * Pure arithmetic on the times and counts it is given (no clock, no timers), so it is
 * tested by feeding it acknowledgements.
 */
export interface CongestionWindowOptions {
  /** Window before anything is measured (frames). */
  initial?: number;
  /** The sized window never goes below this (frames). */
  floor?: number;
  /** Nor above this (frames). */
  max?: number;
  /** After timeouts the window may shrink to this (frames). */
  minimum?: number;
  /**
   * Window = gain × bandwidth-delay product once startup is over. 1.5 leaves room for
   * RTT jitter and bursty acks while the standing queue (what an interactive frame waits
   * behind) stays at half a round trip; with 2 it was a whole one, for no more throughput
   * in the benchmark (29-34 MB/s either way at 100 ms).
   */
  gain?: number;
  /** How long a delivery-rate sample counts towards the max (ms). */
  filterMs?: number;
}

/** What is remembered per frame when it is first sent (kept on the frame's window entry). */
export interface DeliverySnapshot {
  /** Frames acknowledged when this frame was sent. */
  deliveredAtSend: number;
  /** Time of the latest acknowledgement when this frame was sent. */
  deliveredTimeAtSend: number;
  /** Send time of the newest frame acknowledged when this frame was sent. */
  firstSentTimeAtSend: number;
  /** When this frame was sent. */
  sentTime: number;
}

export const DEFAULT_CONGESTION: Required<CongestionWindowOptions> = {
  initial: 1024,
  // 512 frames kept loopback uploads as fast as 1024 did (65-80 MB/s, same run) while a
  // keystroke beside them waited behind half the queue (echo p50 21-22 ms, was 28-33);
  // 256 cost a fifth of the throughput.
  floor: 512,
  max: 16_384,
  minimum: 32,
  gain: 1.5,
  filterMs: 10_000,
};

/** Startup ends after this many rounds without the rate growing by STARTUP_GROWTH. */
const STARTUP_FLAT_ROUNDS = 3;
const STARTUP_GROWTH = 1.25;
/** BBR's startup gain, 2/ln 2: enough for the window to double per round trip. */
const STARTUP_GAIN = 2.89;
/**
 * A queue of our own: even the smallest RTT of a round exceeds the path's smallest by
 * this fraction plus QUEUE_SLACK_MS (HyStart's signal), so every frame of that round
 * waited and the window is past the path's capacity. It ends startup (waiting for the
 * rate to stay flat instead let a CPU-bound path's bursty acks keep a 64 MiB upload in
 * startup to its end, with a window of four times the bandwidth-delay product and every
 * interactive byte one to three round trips behind it) and, in any phase, drains the
 * queue (drainTo). The slack keeps a short path's scheduling noise from counting as a queue.
 */
const QUEUE_FRACTION = 0.25;
const QUEUE_SLACK_MS = 2;

/**
 * A windowed extreme: the max (or min) of the samples of the current and the previous
 * period, so an old extreme is forgotten after one to two periods.
 */
class WindowedExtreme {
  private current: number;
  private previous: number;
  private periodStart = -Infinity;
  private readonly better: (a: number, b: number) => boolean;
  private readonly none: number;
  private readonly periodMs: number;

  constructor(better: (a: number, b: number) => boolean, none: number, periodMs: number) {
    this.better = better;
    this.none = none;
    this.periodMs = periodMs;
    this.current = none;
    this.previous = none;
  }

  get value(): number {
    return this.better(this.current, this.previous) ? this.current : this.previous;
  }

  add(sample: number, now: number): void {
    if (now - this.periodStart >= this.periodMs) {
      this.previous = now - this.periodStart >= 2 * this.periodMs ? this.none : this.current;
      this.current = this.none;
      this.periodStart = now;
    }
    if (this.better(sample, this.current)) this.current = sample;
  }

  reset(): void {
    this.current = this.previous = this.none;
    this.periodStart = -Infinity;
  }
}

export class CongestionWindow {
  private readonly options: Required<CongestionWindowOptions>;
  private window: number;
  /** Frames acknowledged so far, and when the latest was. */
  private delivered = 0;
  private deliveredTime = 0;
  /** Send time of the newest acknowledged frame. */
  private firstSentTime = 0;
  /** Frames per ms. */
  private readonly rate: WindowedExtreme;
  /**
   * The smallest RTT since the path was last reset. Not forgotten over time: a window
   * sized from RTTs that include our own queue would grow the queue (BBR drains it to
   * re-measure; an RTT that truly grew only costs us some rate, which the gain covers).
   */
  private smallestRtt = Infinity;
  private round = 0;
  private nextRoundDelivered = 0;
  /** When the current round started (the ack that ended the previous one). */
  private roundStartTime = 0;
  private startup = true;
  private startupRate = 0;
  private flatRounds = 0;
  /** The smallest RTT sample of the current round. */
  private roundMinRtt = Infinity;

  constructor(options: CongestionWindowOptions = {}) {
    this.options = { ...DEFAULT_CONGESTION, ...options };
    this.window = this.options.initial;
    this.rate = new WindowedExtreme((a, b) => a > b, 0, this.options.filterMs);
  }

  /** Frames that may be unacknowledged now. */
  get frames(): number {
    return Math.floor(this.window);
  }

  /** The bandwidth estimate in frames per millisecond (0 before any sample). */
  get deliveryRate(): number {
    return this.rate.value;
  }

  /** The smallest recent RTT in milliseconds (Infinity before any sample). */
  get minRtt(): number {
    return this.smallestRtt;
  }

  /** Whether the window is still growing towards the path's rate. */
  get inStartup(): boolean {
    return this.startup;
  }

  /** Round trips counted so far (one ends when a frame sent after its start is acknowledged). */
  get rounds(): number {
    return this.round;
  }

  /**
   * The window the measurements call for: gain × rate × min RTT, within floor..max. In
   * startup the gain is larger, so the window can double every round trip while the rate
   * follows it, and stops where the rate does: a queue of our own then shows as RTT, not rate.
   */
  get target(): number {
    const { floor, max } = this.options;
    const gain = this.startup ? STARTUP_GAIN : this.options.gain;
    const rtt = this.smallestRtt;
    const bdp = Number.isFinite(rtt) ? this.rate.value * rtt : 0;
    return Math.min(max, Math.max(floor, gain * bdp));
  }

  /** Fills `frame`'s snapshot as it is first sent at `now`; `inFlight` counts it. */
  onSend(frame: DeliverySnapshot, now: number, inFlight: number): void {
    if (inFlight <= 1) {
      // Nothing was in flight: the rate interval starts now, not at the last ack.
      this.deliveredTime = now;
      this.firstSentTime = now;
    }
    frame.deliveredAtSend = this.delivered;
    frame.deliveredTimeAtSend = this.deliveredTime;
    frame.firstSentTimeAtSend = this.firstSentTime;
    frame.sentTime = now;
  }

  /**
   * One frame acknowledged at `now`. `rttMs` is its RTT sample, undefined when it was
   * resent (Karn: the ack may answer any send; no rate sample either).
   */
  onAck(frame: DeliverySnapshot, now: number, rttMs: number | undefined): void {
    this.delivered++;
    this.deliveredTime = now;
    if (rttMs === undefined) {
      this.grow();
      return;
    }
    this.firstSentTime = frame.sentTime;
    if (rttMs < this.smallestRtt) this.smallestRtt = Math.max(rttMs, 0.001);
    if (rttMs < this.roundMinRtt) this.roundMinRtt = rttMs;
    // The slower of how fast the frames went out and how fast their acks came back.
    const interval = Math.max(frame.sentTime - frame.firstSentTimeAtSend, now - frame.deliveredTimeAtSend);
    if (interval > 0) this.rate.add((this.delivered - frame.deliveredAtSend) / interval, now);
    if (frame.deliveredAtSend >= this.nextRoundDelivered) {
      const roundFrames = this.delivered - this.nextRoundDelivered;
      const roundMs = now - this.roundStartTime;
      this.nextRoundDelivered = this.delivered;
      this.roundStartTime = now;
      this.round++;
      this.onRoundEnd(roundFrames, roundMs, now);
    }
    this.grow();
  }

  /**
   * A new connection (a reconnect may take another path): forget the RTT and rate
   * measured, keep the window, and probe again.
   */
  resetPath(): void {
    this.smallestRtt = Infinity;
    this.rate.reset();
    this.startup = true;
    this.startupRate = 0;
    this.flatRounds = 0;
    this.roundMinRtt = Infinity;
    this.nextRoundDelivered = this.delivered;
  }

  /** A retransmission timeout fired: halve the window (frames were lost or the path stalled). */
  onTimeout(): void {
    this.window = Math.max(this.options.minimum, Math.floor(this.window / 2));
    // A stalled path's old rate no longer holds; measure again.
    this.rate.reset();
  }

  private onRoundEnd(roundFrames: number, roundMs: number, now: number): void {
    const roundMinRtt = this.roundMinRtt;
    this.roundMinRtt = Infinity;
    if (roundMinRtt > this.smallestRtt * (1 + QUEUE_FRACTION) + QUEUE_SLACK_MS) {
      this.startup = false;
      this.drainTo(roundFrames, roundMs, now);
      return;
    }
    if (!this.startup) return;
    const rate = this.rate.value;
    if (rate >= this.startupRate * STARTUP_GROWTH) {
      this.startupRate = rate;
      this.flatRounds = 0;
      return;
    }
    if (++this.flatRounds >= STARTUP_FLAT_ROUNDS) this.startup = false;
  }

  /**
   * A whole round waited in a queue of our own: the path now delivers less than the
   * largest rate of the filter (a CPU-bound path's rate swings by half within a second;
   * startup's window is 2.89 × its rate). Keeping the window sized to that rate kept a
   * queue of two round trips in front of every interactive frame, so the estimate starts
   * again from what the round delivered, and the window follows it down at once: no
   * frame is sent until the queue has drained to gain × that rate × min RTT (BBR's DRAIN).
   * The window still covers the path (gain > 1), so a rate that had only dipped is found
   * again by the next rounds' samples.
   */
  private drainTo(roundFrames: number, roundMs: number, now: number): void {
    if (roundFrames <= 0 || roundMs <= 0) return;
    const roundRate = roundFrames / roundMs;
    if (roundRate >= this.rate.value) return;
    this.rate.reset();
    this.rate.add(roundRate, now);
  }

  private grow(): void {
    const target = this.target;
    if (this.window < target) this.window = Math.min(target, this.window + 1);
    // Startup only grows: its first samples, from a few frames, must not cut the initial
    // window down to the floor. Once it is over the window follows the target down too.
    else if (!this.startup) this.window = target;
  }
}
