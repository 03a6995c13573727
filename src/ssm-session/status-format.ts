/** Text pieces of the status line and the `--stats` summaries. */

/** `1.2 MB/s`, `340 kB/s`, `0 B/s` (decimal units, like most transfer tools). */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

export function formatBytes(bytes: number): string {
  if (!(bytes > 0)) return '0 B';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(bytes < 1e4 ? 1 : 0)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

export function formatRtt(rttMs: number | undefined): string {
  if (rttMs === undefined) return 'rtt -';
  return `rtt ${rttMs < 10 ? rttMs.toFixed(1) : Math.round(rttMs)} ms`;
}

/** `2 connected, 1 reconnecting` from the states of the running sessions; `no session` when none. */
export function formatStates(states: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const state of states) counts.set(state, (counts.get(state) ?? 0) + 1);
  if (counts.size === 0) return 'no session';
  return [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
}

/** What the status line shows of one forward. */
export interface ForwardFigures {
  /** e.g. `127.0.0.1:8080->db:5432` or `socks 127.0.0.1:1080`. */
  label: string;
  states: Iterable<string>;
  activeConnections: number;
  throughputDown: number;
  throughputUp: number;
  rttMs: number | undefined;
  retransmissions: number;
}

export function formatForward(figures: ForwardFigures): string {
  return (
    `${figures.label} [${formatStates(figures.states)}] ${figures.activeConnections} conn ` +
    `down ${formatRate(figures.throughputDown)} up ${formatRate(figures.throughputUp)} ` +
    `${formatRtt(figures.rttMs)} retx ${figures.retransmissions}`
  );
}

/** What a `--stats` summary shows of one session. */
export interface SessionFigures {
  sessionId: string;
  rttMs: number | undefined;
  retransmissions: number;
  bytesIn: number;
  bytesOut: number;
  reconnects: number;
}

export function formatSessionSummary(figures: SessionFigures): string {
  return (
    `session ${figures.sessionId}: ${formatRtt(figures.rttMs)}, ${figures.retransmissions} retransmissions, ` +
    `${formatBytes(figures.bytesIn)} in, ${formatBytes(figures.bytesOut)} out, ${figures.reconnects} reconnects`
  );
}

/** What the status line shows of a copy. */
export interface CopyFigures {
  /** The file's name. */
  name: string;
  stage: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second lately. */
  rate: number;
  sessions: number;
}

/**
 * `app.log 45% 28.8 MB of 64.0 MB 5.1 MB/s ETA 7s 8 sessions`; `exact` (periodic lines for
 * logs and scripts) gives the byte counts in full.
 */
export function formatCopy(figures: CopyFigures, exact: boolean): string {
  const { bytesDone, bytesTotal, rate } = figures;
  const percent = bytesTotal > 0 ? Math.floor((bytesDone / bytesTotal) * 100) : 0;
  const amount = exact ? `${bytesDone} of ${bytesTotal} bytes` : `${formatBytes(bytesDone)} of ${formatBytes(bytesTotal)}`;
  const eta = rate > 0 && bytesTotal > bytesDone ? ` ETA ${formatDuration((bytesTotal - bytesDone) / rate)}` : '';
  const stage = figures.stage === 'transferring' ? '' : ` (${figures.stage})`;
  return `${figures.name} ${percent}% ${amount} ${formatRate(rate)}${eta} ${figures.sessions} session${figures.sessions === 1 ? '' : 's'}${stage}`;
}

/** `42s`, `3m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
