import { EventEmitter } from 'node:events';
import type { FrameTransport } from '../channel/transport.ts';
import { seededRandom } from '../util/prng.ts';

/** Faults applied to frames travelling in one direction of a memory link. */
export interface LinkFaults {
  dropRate?: number;
  duplicateRate?: number;
  /** Chance that a frame is held back and delivered after the next one. */
  reorderRate?: number;
  seed?: number;
}

/**
 * One end of an in-memory frame link. Frames are delivered asynchronously (never
 * re-entrantly), optionally dropped, duplicated or reordered, so the channel and the
 * sessions can be tested without sockets.
 */
export class MemoryTransport extends EventEmitter implements FrameTransport {
  peer: MemoryTransport | undefined;
  readonly bufferedAmount = 0;
  closeCode: number | undefined;
  framesSent = 0;
  private open = true;
  private paused = false;
  private readonly backlog: Buffer[] = [];
  private held: Buffer | undefined;
  private readonly faults: LinkFaults;
  private readonly random: () => number;

  constructor(faults: LinkFaults = {}) {
    super();
    this.faults = faults;
    this.random = seededRandom(faults.seed ?? 1);
  }

  /** No write queue here to bound: an ack is a frame like any other. */
  sendAcknowledgement(frame: Buffer): boolean {
    return this.send(frame);
  }

  send(frame: Buffer): boolean {
    const peer = this.peer;
    if (!this.open || !peer) return false;
    this.framesSent++;
    const { dropRate = 0, duplicateRate = 0, reorderRate = 0 } = this.faults;
    if (this.random() < dropRate) return true;
    const copies = this.random() < duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (!this.held && this.random() < reorderRate) {
        this.held = frame;
        continue;
      }
      this.deliver(peer, frame);
      if (this.held) {
        const late = this.held;
        this.held = undefined;
        this.deliver(peer, late);
      }
    }
    return true;
  }

  private deliver(peer: MemoryTransport, frame: Buffer): void {
    // A copy, so a receiver can never see the sender's later writes to the buffer.
    const data = Buffer.from(frame);
    setImmediate(() => peer.arrive(data));
  }

  private arrive(data: Buffer): void {
    if (!this.open) return;
    if (this.paused) this.backlog.push(data);
    else this.emit('frame', data);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    while (!this.paused && this.backlog.length > 0) this.emit('frame', this.backlog.shift()!);
  }

  /**
   * Closes this end; the other end closes on the next turn of the event loop. With a
   * code, the other end sees a deliberate close by its peer (`closeCode`), as after a
   * WebSocket close frame; without one, a broken connection.
   */
  close(code?: number): void {
    if (!this.open) return;
    this.open = false;
    this.emit('close');
    const peer = this.peer;
    if (peer?.open) {
      setImmediate(() => {
        if (peer.open && code !== undefined) peer.closeCode = code;
        peer.close();
      });
    }
  }
}

/** Two connected transports; faults are given per direction. */
export function memoryLink(aToB: LinkFaults = {}, bToA: LinkFaults = {}): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport(aToB);
  const b = new MemoryTransport(bToA);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
