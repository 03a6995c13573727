import type { TerminalSize } from '../protocol/payloads.ts';
import type { SessionIO } from './io.ts';

/** Size sent when the output is not a terminal (the official client's fallback). */
export const FALLBACK_SIZE: TerminalSize = { cols: 300, rows: 100 };

/**
 * How often a Windows console is asked for its size. Node reports resizes there from the
 * console's events, which some hosts do not raise; the official plugin polls its terminal
 * size every 500 ms on every platform.
 */
export const WINDOWS_SIZE_POLL_MS = 500;

export interface TerminalOptions {
  /** Where this runs (tests pretend); decides the Windows console handling. */
  platform?: NodeJS.Platform;
  pollMs?: number;
}

/**
 * Raw mode for an interactive stdin, restored on stop and, as a last resort, on
 * process exit, so the user's terminal is never left raw.
 *
 * On Windows, Node's raw mode on a console is its VT input mode (Node 22.17, 24.2 and newer;
 * older ones translate keys to the same sequences themselves): arrows, function keys and
 * Ctrl-<key> arrive as a Unix terminal sends them, and Ctrl-C arrives as the byte 0x03,
 * which goes to the remote side like any key.
 */
export class TerminalMode {
  private readonly io: SessionIO;
  private readonly platform: NodeJS.Platform;
  private readonly pollMs: number;
  private raw = false;
  private readonly restoreOnExit = () => this.restore();

  constructor(io: SessionIO, options: TerminalOptions = {}) {
    this.io = io;
    this.platform = options.platform ?? process.platform;
    this.pollMs = options.pollMs ?? WINDOWS_SIZE_POLL_MS;
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
    if (!stdout.isTTY) return FALLBACK_SIZE;
    // A Windows console is asked directly: Node's columns/rows only follow the resizes it saw.
    const [cols, rows] =
      this.platform === 'win32' && typeof stdout.getWindowSize === 'function' ? stdout.getWindowSize() : [stdout.columns, stdout.rows];
    return cols && rows ? { cols, rows } : FALLBACK_SIZE;
  }

  /**
   * Calls `onChange` whenever the terminal's size changes: on every 'resize' of stdout, and
   * on Windows also when a poll of the console finds a size not reported yet. Returns the
   * function that stops watching.
   */
  watchSize(onChange: () => void): () => void {
    const { stdout } = this.io;
    let last = this.size();
    const changed = (): void => {
      last = this.size();
      onChange();
    };
    stdout.on('resize', changed);
    let poll: NodeJS.Timeout | undefined;
    if (this.platform === 'win32' && stdout.isTTY && typeof stdout.getWindowSize === 'function') {
      poll = setInterval(() => {
        const now = this.size();
        if (now.cols !== last.cols || now.rows !== last.rows) changed();
      }, this.pollMs);
      poll.unref();
    }
    return () => {
      stdout.off('resize', changed);
      clearInterval(poll);
    };
  }
}
