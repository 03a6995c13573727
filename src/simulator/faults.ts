import { seededRandom } from '../util/prng.ts';
import type { KmsFaultHooks, WrongKeyMode } from './agent/kms-encryption.ts';
import { LinkShaper } from './link-shaper.ts';

/**
 * Fault injection on the gateway relay. `toAgent` is client → agent, `toClient` is
 * agent → client. Random faults draw from a seeded PRNG, so a given seed, configuration
 * and frame sequence always gives the same outcome. Service-generated messages
 * (channel_closed, publication control) and the OpenDataChannel text are never faulted.
 */
export type Direction = 'toAgent' | 'toClient';
export const DIRECTIONS: readonly Direction[] = ['toAgent', 'toClient'];

export interface DirectionFaults {
  /** Probability (0..1) that a frame is silently dropped. */
  dropRate: number;
  /** Probability that a frame is delivered twice. */
  duplicateRate: number;
  /** Probability that a frame is held back and released after the next one. */
  reorderRate: number;
  /** Added one-way delay; order is preserved. */
  latencyMs: number;
  /** Extra one-way delay per frame, drawn from 0..jitterMs (seeded); order is preserved. */
  jitterMs: number;
  /** Bandwidth limit in bytes per second (0: none): frames queue behind each other's serialisation time. */
  bytesPerSecond: number;
}

export interface CloseClientRule {
  /** Close after this many relayed frames (counted from when the rule is set). */
  frames?: number;
  /** Close after this many relayed bytes. */
  bytes?: number;
  /** Count only this direction (default both). */
  direction?: Direction;
}

export interface ResumeRefusal {
  /** AWS error type returned by ResumeSession (default InternalServerError). */
  errorType: string;
  status: number;
  message: string;
}

/** A frame held back by the reorder fault waits at most this long for a successor. */
const REORDER_MAX_HOLD_MS = 500;
const DEFAULT_SEED = 0x5eed;

type Deliver = (frame: Buffer) => void;

interface DelayedFrame {
  at: number;
  frame: Buffer;
  deliver: Deliver;
}

interface HeldFrame {
  frame: Buffer;
  deliver: Deliver;
  timer: NodeJS.Timeout;
}

function cleanFaults(): DirectionFaults {
  return { dropRate: 0, duplicateRate: 0, reorderRate: 0, latencyMs: 0, jitterMs: 0, bytesPerSecond: 0 };
}

export class FaultInjector {
  readonly toAgent: DirectionFaults = cleanFaults();
  readonly toClient: DirectionFaults = cleanFaults();
  private random: () => number;
  private silenced = false;
  private readonly corruptCount: Record<Direction, number> = { toAgent: 0, toClient: 0 };
  private readonly truncateCount: Record<Direction, number> = { toAgent: 0, toClient: 0 };
  private closeRule: (CloseClientRule & { framesSeen: number; bytesSeen: number }) | undefined;
  private resumeRefusedUntil = 0;
  private resumeRefusal: ResumeRefusal | undefined;
  private encryptedTamperCount = 0;
  private wrongKey: WrongKeyMode = 'off';
  private readonly held: Record<Direction, HeldFrame | undefined> = { toAgent: undefined, toClient: undefined };
  private readonly delayed: Record<Direction, DelayedFrame[]> = { toAgent: [], toClient: [] };
  private readonly links: Record<Direction, LinkShaper> = { toAgent: new LinkShaper(), toClient: new LinkShaper() };
  private readonly delayTimers: Record<Direction, NodeJS.Timeout | undefined> = {
    toAgent: undefined,
    toClient: undefined,
  };

  constructor(seed: number = DEFAULT_SEED) {
    this.random = seededRandom(seed);
  }

  /** Restarts the PRNG so random faults repeat exactly. */
  seed(seed: number): void {
    this.random = seededRandom(seed);
  }

  configure(direction: Direction, faults: Partial<DirectionFaults>): void {
    Object.assign(this[direction], faults);
  }

  /** Flips a payload byte of the next `n` frames, so their digest no longer matches. */
  corruptNext(direction: Direction, n = 1): void {
    this.corruptCount[direction] += n;
  }

  /** Cuts the next `n` frames to half their length. */
  truncateNext(direction: Direction, n = 1): void {
    this.truncateCount[direction] += n;
  }

  /**
   * KMS sessions: flips one ciphertext byte of the next `n` encrypted agent → client
   * payloads (types 1, 11, 12). The frame digest is computed over the tampered bytes, so
   * only the client's GCM tag check fails.
   */
  tamperEncryptedNext(n = 1): void {
    this.encryptedTamperCount += n;
  }

  /**
   * KMS sessions: the agent encrypts with a key other than the negotiated one.
   * 'output': payloads only (the challenge still succeeds); 'all': the challenge too;
   * 'input': the agent decrypts what the client sends (the challenge answer too) wrongly;
   * 'off' restores normal behaviour. Read at every encryption, so it acts on running sessions.
   */
  setWrongAgentKey(mode: WrongKeyMode): void {
    this.wrongKey = mode;
  }

  /** The hooks the agents' ciphers consult. */
  get kmsHooks(): KmsFaultHooks {
    return {
      wrongKeyMode: () => this.wrongKey,
      takeTamper: () => {
        if (this.encryptedTamperCount <= 0) return false;
        this.encryptedTamperCount--;
        return true;
      },
    };
  }

  /** Drops the client's TCP connection once the given amount has been relayed. */
  closeClientAfter(rule: CloseClientRule): void {
    this.closeRule = { ...rule, framesSeen: 0, bytesSeen: 0 };
  }

  /** The service stops relaying and answering (frames, pings, channel_closed); TCP stays up. */
  silence(): void {
    this.silenced = true;
  }

  unsilence(): void {
    this.silenced = false;
  }

  get isSilenced(): boolean {
    return this.silenced;
  }

  /** ResumeSession fails for the next `durationMs` milliseconds. */
  refuseResume(durationMs: number, refusal: Partial<ResumeRefusal> = {}): void {
    this.resumeRefusedUntil = Date.now() + durationMs;
    this.resumeRefusal = {
      errorType: refusal.errorType ?? 'InternalServerError',
      status: refusal.status ?? 500,
      message: refusal.message ?? 'The simulator refuses ResumeSession for now.',
    };
  }

  /** The refusal to answer ResumeSession with, if one is in force. */
  activeResumeRefusal(): ResumeRefusal | undefined {
    return Date.now() < this.resumeRefusedUntil ? this.resumeRefusal : undefined;
  }

  /** Clears every fault (not the PRNG state) and releases held or delayed frames. */
  reset(): void {
    for (const direction of DIRECTIONS) {
      Object.assign(this[direction], cleanFaults());
      this.corruptCount[direction] = 0;
      this.truncateCount[direction] = 0;
      this.releaseHeld(direction);
    }
    this.closeRule = undefined;
    this.silenced = false;
    this.resumeRefusedUntil = 0;
    this.encryptedTamperCount = 0;
    this.wrongKey = 'off';
  }

  /** Passes one frame through the faults; `deliver` is called zero or more times. */
  apply(direction: Direction, frame: Buffer, deliver: Deliver): void {
    if (this.silenced) return;
    const faults = this[direction];
    if (faults.dropRate > 0 && this.random() < faults.dropRate) return;
    let bytes = frame;
    if (this.corruptCount[direction] > 0) {
      this.corruptCount[direction]--;
      bytes = corrupt(bytes);
    }
    if (this.truncateCount[direction] > 0) {
      this.truncateCount[direction]--;
      bytes = bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2)));
    }
    const copies = faults.duplicateRate > 0 && this.random() < faults.duplicateRate ? 2 : 1;
    const held = this.held[direction];
    if (!held && faults.reorderRate > 0 && this.random() < faults.reorderRate) {
      const timer = setTimeout(() => this.releaseHeld(direction), REORDER_MAX_HOLD_MS);
      timer.unref();
      this.held[direction] = { frame: bytes, deliver, timer };
      // A duplicate of a held frame goes out now, so the copies arrive out of order too.
      if (copies === 2) this.delay(direction, bytes, deliver);
      return;
    }
    for (let i = 0; i < copies; i++) this.delay(direction, bytes, deliver);
    this.releaseHeld(direction);
  }

  /** Counts a relayed frame; true when the client connection should now be dropped. */
  shouldCloseClient(direction: Direction, byteLength: number): boolean {
    const rule = this.closeRule;
    if (!rule || (rule.direction && rule.direction !== direction)) return false;
    rule.framesSeen++;
    rule.bytesSeen += byteLength;
    const hit =
      (rule.frames !== undefined && rule.framesSeen >= rule.frames) ||
      (rule.bytes !== undefined && rule.bytesSeen >= rule.bytes);
    if (hit) this.closeRule = undefined;
    return hit;
  }

  /** Cancels timers; frames still held or delayed are discarded. */
  dispose(): void {
    for (const direction of DIRECTIONS) {
      const held = this.held[direction];
      if (held) clearTimeout(held.timer);
      this.held[direction] = undefined;
      this.delayed[direction].length = 0;
      this.links[direction].reset();
      const timer = this.delayTimers[direction];
      if (timer) clearTimeout(timer);
      this.delayTimers[direction] = undefined;
    }
  }

  private releaseHeld(direction: Direction): void {
    const held = this.held[direction];
    if (!held) return;
    clearTimeout(held.timer);
    this.held[direction] = undefined;
    this.delay(direction, held.frame, held.deliver);
  }

  /**
   * Delivers after the configured link delay (latency, jitter, serialisation time at the
   * bandwidth limit), keeping the order frames were queued in. Frames wait in a queue
   * released by one timer per direction; nothing blocks the event loop.
   */
  private delay(direction: Direction, frame: Buffer, deliver: Deliver): void {
    const shape = this[direction];
    const queue = this.delayed[direction];
    const link = this.links[direction];
    const now = Date.now();
    if (queue.length === 0 && link.passesThrough(shape, now)) {
      deliver(frame);
      return;
    }
    const at = link.schedule(shape, now, frame.length, this.random);
    queue.push({ at, frame, deliver });
    if (queue.length === 1) this.armDelayTimer(direction);
  }

  private armDelayTimer(direction: Direction): void {
    const head = this.delayed[direction][0];
    if (!head || this.delayTimers[direction]) return;
    this.delayTimers[direction] = setTimeout(() => this.flushDelayed(direction), Math.max(0, head.at - Date.now()));
  }

  /** Releases every frame that is due, in order (taken out at once: a long queue is not shifted frame by frame). */
  private flushDelayed(direction: Direction): void {
    this.delayTimers[direction] = undefined;
    const queue = this.delayed[direction];
    const now = Date.now();
    let due = 0;
    while (due < queue.length && (queue[due] as DelayedFrame).at <= now) due++;
    for (const next of queue.splice(0, due)) next.deliver(next.frame);
    this.armDelayTimer(direction);
  }
}

/** Copy of `frame` with one payload byte flipped (a digest byte when there is no payload). */
function corrupt(frame: Buffer): Buffer {
  const copy = Buffer.from(frame);
  const index = copy.length > 120 ? copy.length - 1 : Math.min(80, copy.length - 1);
  if (index >= 0) copy[index] = (copy[index] ?? 0) ^ 0xff;
  return copy;
}
