/** Where status output goes: stderr, or a fake in tests. */
export interface StatusStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/**
 * `live`: one line redrawn in place (a terminal); `periodic`: a plain line every few
 * seconds (`--stats` when stderr is a file or pipe); `off`: nothing.
 */
export type StatusMode = 'live' | 'periodic' | 'off';

/** Live on a terminal unless -q; when not a terminal, only with --stats. */
export function statusMode(stream: StatusStream, options: { stats: boolean; quiet: boolean }): StatusMode {
  if (stream.isTTY) return options.stats || !options.quiet ? 'live' : 'off';
  return options.stats ? 'periodic' : 'off';
}

const LIVE_INTERVAL_MS = 1000;
export const PERIODIC_INTERVAL_MS = 2000;
const CLEAR_LINE = '\r\x1b[K';

/**
 * A status line that other messages can be printed around: in live mode each message
 * clears the line, is printed, and the line is drawn again below it.
 */
export class StatusLine {
  private readonly stream: StatusStream;
  private readonly mode: StatusMode;
  private readonly render: () => string;
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(stream: StatusStream, mode: StatusMode, render: () => string) {
    this.stream = stream;
    this.mode = mode;
    this.render = render;
  }

  start(): void {
    if (this.mode === 'off' || this.timer) return;
    const interval = this.mode === 'live' ? LIVE_INTERVAL_MS : PERIODIC_INTERVAL_MS;
    this.timer = setInterval(() => this.update(), interval);
    this.timer.unref();
    if (this.mode === 'live') this.update();
  }

  /** Draws (live) or prints (periodic) the current status now. */
  update(): void {
    if (this.mode === 'live') {
      this.stream.write(`${CLEAR_LINE}${this.fit(this.render())}`);
      this.drawn = true;
    } else if (this.mode === 'periodic') {
      this.stream.write(`${this.render()}\n`);
    }
  }

  /** Prints a whole line (a message) without mixing it into the status line. */
  message(text: string): void {
    if (this.drawn) this.stream.write(CLEAR_LINE);
    this.stream.write(`${text}\n`);
    if (this.drawn) this.stream.write(this.fit(this.render()));
  }

  /** Stops updating; a live line is cleared, so the shell prompt starts on a clean line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.stream.write(CLEAR_LINE);
    this.drawn = false;
  }

  /** One terminal line at most: a wrapped line could not be redrawn in place. */
  private fit(text: string): string {
    const width = (this.stream.columns ?? 80) - 1;
    return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  }
}
