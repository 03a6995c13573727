import type { InstanceSummary } from '../client/instances.ts';

/** The columns of `list` and of the target picker. */
export const INSTANCE_COLUMNS = ['ID', 'NAME', 'PING', 'PLATFORM', 'ADDRESS', 'AGENT'] as const;
/** Widest NAME and PLATFORM shown in a terminal (longer ones end in …). */
const MAX_FLEXIBLE = 28;

/** The cells of one instance, in INSTANCE_COLUMNS order. */
export function instanceCells(instance: InstanceSummary): string[] {
  return [
    instance.id,
    instance.name ?? '',
    instance.pingStatus,
    instance.platform ?? '',
    instance.ipAddress ?? '',
    instance.agentVersion ?? '',
  ];
}

/** Online first, then by name and id: the order people look for. */
export function byNameOnlineFirst(a: InstanceSummary, b: InstanceSummary): number {
  const online = Number(b.pingStatus === 'Online') - Number(a.pingStatus === 'Online');
  return online || (a.name ?? '').localeCompare(b.name ?? '') || a.id.localeCompare(b.id);
}

/**
 * Rows padded into columns. `fit`: a terminal, where long names and platforms are cut
 * (with …) so rows stay on one line; otherwise every cell is whole.
 */
export function formatRows(rows: readonly string[][], fit: boolean): string[] {
  const cells = rows.map((row) => row.map((cell, column) => (fit && (column === 1 || column === 3) ? cut(cell, MAX_FLEXIBLE) : cell)));
  const widths = cells[0]?.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length))) ?? [];
  return cells.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
}

function cut(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}
