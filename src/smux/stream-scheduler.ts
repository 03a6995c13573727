/**
 * Round-robin over per-stream FIFOs, with new streams first: next() is the head item of
 * the stream whose turn it is; rotate() ends that turn (dropping the item if it is
 * finished) and moves the stream to the back of the busy line while it still has items.
 * A stream that had nothing queued joins a line of fresh streams, served before the busy
 * ones (as fq_codel treats new flows): a keystroke does not even wait for a turn of each
 * bulk stream. Keyed by smux stream id (0 for session frames such as NOP).
 */
export class StreamScheduler<T> {
  private readonly queues = new Map<number, T[]>();
  /** Streams that became active since their last turn, in arrival order. */
  private readonly fresh = new TurnLine();
  /** Streams that had a turn and still have items, in turn order. */
  private readonly busy = new TurnLine();

  get empty(): boolean {
    return this.fresh.empty && this.busy.empty;
  }

  /** Queues an item; true when its stream had nothing queued (it joined the fresh line). */
  push(streamId: number, item: T): boolean {
    const queue = this.queues.get(streamId);
    if (queue) {
      queue.push(item);
      return false;
    }
    this.queues.set(streamId, [item]);
    this.fresh.push(streamId);
    return true;
  }

  /** The line whose head has the current turn (set by next(), so pushes meanwhile cannot move it). */
  private turn: TurnLine | undefined;

  /** The item whose turn it is, or undefined when nothing is queued. */
  next(): T | undefined {
    this.turn = this.fresh.empty ? (this.busy.empty ? undefined : this.busy) : this.fresh;
    const streamId = this.turn?.head;
    return streamId === undefined ? undefined : this.queues.get(streamId)?.[0];
  }

  /** Ends the turn given by next(); `finished` removes that item from its stream's queue. */
  rotate(finished: boolean): void {
    const streamId = this.turn?.shift();
    this.turn = undefined;
    if (streamId === undefined) return;
    const queue = this.queues.get(streamId);
    if (queue && finished) queue.shift();
    if (queue && queue.length > 0) this.busy.push(streamId);
    else this.queues.delete(streamId);
  }

  clear(): void {
    this.queues.clear();
    this.fresh.clear();
    this.busy.clear();
    this.turn = undefined;
  }
}

/** A FIFO of stream ids that does not shift its array on every turn. */
class TurnLine {
  private ids: number[] = [];
  private start = 0;

  get empty(): boolean {
    return this.start >= this.ids.length;
  }

  get head(): number | undefined {
    return this.empty ? undefined : this.ids[this.start];
  }

  push(id: number): void {
    this.ids.push(id);
  }

  shift(): number | undefined {
    if (this.empty) return undefined;
    const id = this.ids[this.start++];
    if (this.empty) this.clear();
    else if (this.start > 64 && this.start * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.start);
      this.start = 0;
    }
    return id;
  }

  clear(): void {
    this.ids = [];
    this.start = 0;
  }
}
