/** How long output must pause before the remote shell counts as idle at its prompt. */
const QUIET_MS = 250;
/** With no output at all after the input, send anyway after this long (not every session echoes). */
const SILENT_FALLBACK_MS = 2000;
/** Ctrl-Ds sent at most: each one after the remote side answered the previous one. */
const MAX_SENDS = 4;

export type Schedule = (run: () => void, ms: number) => () => void;

const realSchedule: Schedule = (run, ms) => {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

/**
 * Piped input has ended: the remote shell gets a Ctrl-D, as a person would type it at an
 * idle prompt. Sent at once, it can reach the pty while the shell is still running the
 * last command with the terminal in canonical mode; the line discipline then takes it as
 * an end-of-file for that command, and the shell, back at its prompt, never sees one: the
 * session hangs. So the Ctrl-D waits until our input is acknowledged and the output has
 * paused (the shell printed its prompt and is reading), and goes again each time new
 * output came and paused after it (a command took it as its own end-of-file).
 */
export class EndOfInput {
  private readonly send: () => void;
  private readonly inputDelivered: () => Promise<unknown>;
  private readonly schedule: Schedule;
  private cancel: (() => void) | undefined;
  private ended = false;
  private delivered = false;
  private outputSinceDelivery = false;
  private sends = 0;
  private stopped = false;

  constructor(send: () => void, inputDelivered: () => Promise<unknown>, schedule: Schedule = realSchedule) {
    this.send = send;
    this.inputDelivered = inputDelivered;
    this.schedule = schedule;
  }

  /** stdin ended. */
  begin(): void {
    if (this.ended || this.stopped) return;
    this.ended = true;
    void this.inputDelivered().then(() => {
      this.delivered = true;
      this.arm(SILENT_FALLBACK_MS);
    });
  }

  /** Output from the remote side arrived. */
  outputArrived(): void {
    if (!this.delivered || this.stopped || this.sends >= MAX_SENDS) return;
    this.outputSinceDelivery = true;
    this.arm(QUIET_MS);
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private arm(ms: number): void {
    this.cancel?.();
    this.cancel = this.schedule(() => this.fire(), ms);
  }

  private fire(): void {
    this.cancel = undefined;
    if (this.stopped || this.sends >= MAX_SENDS) return;
    // After the first, only when the remote side answered since: no Ctrl-D storm into a quiet program.
    if (this.sends > 0 && !this.outputSinceDelivery) return;
    this.outputSinceDelivery = false;
    this.sends++;
    this.send();
  }
}
