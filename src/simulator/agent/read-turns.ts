/**
 * The agent's read loop from the service, sharing the process with its other work.
 *
 * In the real agent the WebSocket reader is one goroutine among many
 * (agent/session/communicator/websocketchannel.go, Open: a goroutine calls ReadMessage and
 * OnMessage in a loop): the data channel's output (WritePump in
 * agent/session/plugins/port/port_mux.go, SendStreamDataMessage in
 * agent/session/datachannel/datachannel.go) and the io.Copy goroutines to and from each
 * destination (port_mux.go, handleDataTransfer) run beside it, so a long run of input
 * never stalls acks, output or the destination's I/O. Node delivers a socket's reads
 * back to back instead (libuv reads up to 32 × 64 KiB per readiness event): handled in
 * one go, ~2 MB of input frames ran in one event-loop turn while everything else waited.
 *
 * This loop processes at most `bytesPerTurn` of frames per turn and keeps the rest for the
 * next turn; while it holds a backlog it reports `backlogged`, and the gateway stops
 * reading the client's socket (backpressure, not an unbounded buffer). While the session
 * handler holds input (`isHeld`, the real read loop blocked in a write) frames wait here
 * too, and `wake()` resumes them under the same budget once the handler takes input again.
 */
export const READ_BYTES_PER_TURN = 64 * 1024;

export interface ReadTurnsOptions {
  /** Handles one frame (the agent's data channel). */
  process: (frame: Buffer) => void;
  /** Told true when frames start waiting for a later turn, false when none wait any more. */
  onBacklog: (backlogged: boolean) => void;
  /** True while the session handler takes no input (frames wait, unprocessed). */
  isHeld?: () => boolean;
  bytesPerTurn?: number;
}

export class ReadTurns {
  private readonly process: (frame: Buffer) => void;
  private readonly onBacklog: (backlogged: boolean) => void;
  private readonly bytesPerTurn: number;
  private readonly isHeld: () => boolean;
  /**
   * Bytes processed in this event-loop iteration: frames taken as they arrive (timers and
   * poll phases) and from the backlog (check phase) share one budget.
   */
  private spent = 0;
  private turnEndPending = false;
  private backlog: Buffer[] = [];
  private backlogHead = 0;
  private closed = false;

  constructor(options: ReadTurnsOptions) {
    this.process = options.process;
    this.onBacklog = options.onBacklog;
    this.bytesPerTurn = options.bytesPerTurn ?? READ_BYTES_PER_TURN;
    this.isHeld = options.isHeld ?? (() => false);
  }

  /** True while frames wait for a later turn. */
  get backlogged(): boolean {
    return this.backlogHead < this.backlog.length;
  }

  /** One frame from the service, processed now or in a later turn, in arrival order. */
  push(frame: Buffer): void {
    if (this.closed) return;
    if (!this.backlogged && this.spent < this.bytesPerTurn && !this.isHeld()) {
      this.take(frame);
      return;
    }
    const wasBacklogged = this.backlogged;
    this.backlog.push(frame);
    if (!this.isHeld()) this.endTurnLater();
    if (!wasBacklogged) this.onBacklog(true);
  }

  /** The session handler takes input again: waiting frames go on in a later turn. */
  wake(): void {
    if (this.backlogged && !this.closed) this.endTurnLater();
  }

  /** The session is over: frames still waiting are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const wasBacklogged = this.backlogged;
    this.backlog = [];
    this.backlogHead = 0;
    if (wasBacklogged) this.onBacklog(false);
  }

  private take(frame: Buffer): void {
    this.spent += frame.length;
    this.endTurnLater();
    this.process(frame);
  }

  /** setImmediate runs after the current poll phase: the next turn of the event loop. */
  private endTurnLater(): void {
    if (this.turnEndPending) return;
    this.turnEndPending = true;
    setImmediate(() => this.nextTurn());
  }

  /** The check phase: frames left over take what this iteration's budget has left, then a new iteration begins. */
  private nextTurn(): void {
    this.turnEndPending = false;
    while (this.backlogged && this.spent < this.bytesPerTurn && !this.closed && !this.isHeld()) {
      const frame = this.backlog[this.backlogHead] as Buffer;
      this.backlogHead++;
      this.take(frame);
    }
    this.spent = 0;
    if (this.closed) return;
    if (this.backlogged) {
      if (!this.isHeld()) this.endTurnLater();
      // Drop what was taken once it is a large share, so the array does not grow forever.
      if (this.backlogHead > 1024 && this.backlogHead * 2 > this.backlog.length) {
        this.backlog = this.backlog.slice(this.backlogHead);
        this.backlogHead = 0;
      }
      return;
    }
    if (this.backlog.length === 0) return; // nothing was waiting
    this.backlog = [];
    this.backlogHead = 0;
    this.onBacklog(false);
  }
}
