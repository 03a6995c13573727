// Bounded waiting for conditions in end-to-end tests: never a fixed sleep that "makes it
// pass", always a condition with a deadline whose failure message shows what was seen.

/** Thrown when a condition is not met in time; the message carries the context. */
export class WaitTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WaitTimeout';
  }
}

export interface WaitOptions {
  /** Give up after this long (milliseconds). */
  timeoutMs: number;
  /** What we are waiting for, for the failure message. */
  what: string;
  /** Extra context for the failure message, e.g. the screen so far. */
  context?: () => string;
  /** Stop waiting early with this error when it returns a string (e.g. the process exited). */
  abort?: () => string | undefined;
  /** Poll interval (milliseconds). */
  intervalMs?: number;
}

/** Polls `condition` until it returns a truthy value, which is returned. */
export async function waitFor<T>(condition: () => T | undefined | null | false, options: WaitOptions): Promise<T> {
  const start = Date.now();
  const interval = options.intervalMs ?? 15;
  for (;;) {
    const value = condition();
    if (value) return value;
    const aborted = options.abort?.();
    if (aborted !== undefined) {
      // One last look: the condition may have become true just before the abort.
      const last = condition();
      if (last) return last;
      throw new WaitTimeout(`${aborted} while waiting for ${options.what}${contextText(options)}`);
    }
    if (Date.now() - start >= options.timeoutMs) {
      throw new WaitTimeout(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${contextText(options)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

function contextText(options: WaitOptions): string {
  if (!options.context) return '';
  return `\n--- seen so far ---\n${options.context()}\n--- end ---`;
}

/** A printable rendering of terminal output for failure messages (escapes kept visible). */
export function printable(text: string, max = 4000): string {
  const tail = text.length > max ? `…${text.slice(-max)}` : text;
  return tail.replace(/\x1b/g, '\\e').replace(/\r/g, '\\r');
}
