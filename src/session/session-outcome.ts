import type { SessionOutcome } from './session-contract.ts';

/**
 * The one outcome of a session: settled once, by whichever end comes first (the agent
 * closing the channel, an end from this side, a failure), and handed out only once the
 * termination the end started is over, so a caller that exits does not cut it short.
 */
export class OutcomeLatch {
  readonly promise: Promise<SessionOutcome>;
  private resolve: (outcome: SessionOutcome) => void = () => {};
  private settledWith: SessionOutcome | undefined;
  private remoteExitCode: number | undefined;

  constructor() {
    this.promise = new Promise<SessionOutcome>((resolve) => (this.resolve = resolve));
  }

  get settled(): boolean {
    return this.settledWith !== undefined;
  }

  /** The command's exit code, reported by the handler (§7.2); part of a 'closed' outcome. */
  set exitCode(code: number) {
    this.remoteExitCode = code;
  }

  /** The outcome of a channel the agent closed with `output`. */
  closed(output: string): SessionOutcome {
    return { status: 'closed', output, ...(this.remoteExitCode === undefined ? {} : { exitCode: this.remoteExitCode }) };
  }

  /** Decides the outcome; false when it was decided before (the first end wins). */
  settle(outcome: SessionOutcome): boolean {
    if (this.settledWith) return false;
    this.settledWith = outcome;
    return true;
  }

  /** Hands the decided outcome out once `after` (the termination under way) resolves. */
  release(after: Promise<void>): void {
    const outcome = this.settledWith;
    if (outcome) void after.then(() => this.resolve(outcome));
  }
}
