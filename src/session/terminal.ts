import type { TerminalSize } from '../protocol/payloads.ts';
import type { SessionIO } from './io.ts';

/** Size sent when the output is not a terminal (the official client's fallback). */
export const FALLBACK_SIZE: TerminalSize = { cols: 300, rows: 100 };

/**
 * Raw mode for an interactive stdin, restored on stop and, as a last resort, on
 * process exit, so the user's terminal is never left raw.
 */
export class TerminalMode {
  private readonly io: SessionIO;
  private raw = false;
  private readonly restoreOnExit = () => this.restore();

  constructor(io: SessionIO) {
    this.io = io;
  }

  get interactive(): boolean {
    return this.io.stdin.isTTY === true && typeof this.io.stdin.setRawMode === 'function';
  }

  enterRaw(): void {
    if (!this.interactive || this.raw) return;
    this.io.stdin.setRawMode!(true);
    this.raw = true;
    process.once('exit', this.restoreOnExit);
  }

  restore(): void {
    if (!this.raw) return;
    this.raw = false;
    process.off('exit', this.restoreOnExit);
    try {
      this.io.stdin.setRawMode!(false);
    } catch {
      // The terminal is gone (hang-up): nothing left to restore.
    }
  }

  size(): TerminalSize {
    const { stdout } = this.io;
    if (stdout.isTTY && stdout.columns && stdout.rows) return { cols: stdout.columns, rows: stdout.rows };
    return FALLBACK_SIZE;
  }
}
