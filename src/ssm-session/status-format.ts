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
