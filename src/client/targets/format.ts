import type { InstanceInformation } from '@aws-sdk/client-ssm';
import type { TargetCandidate } from '../target-error.ts';

/** A managed instance as a TargetError lists it. */
export function candidateOf(info: InstanceInformation): TargetCandidate {
  const platform = [info.PlatformName, info.PlatformVersion].filter(Boolean).join(' ');
  return {
    id: info.InstanceId ?? '?',
    pingStatus: info.PingStatus ?? 'unknown',
    computerName: info.ComputerName,
    ipAddress: info.IPAddress,
    platform: platform || info.PlatformType,
  };
}

/** Candidates as an indented table, one per line, columns aligned. */
export function candidateTable(candidates: readonly TargetCandidate[]): string {
  const rows = candidates.map((c) => [c.id, c.pingStatus, c.computerName ?? '', c.ipAddress ?? '', c.platform ?? '']);
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}`).join('\n');
}

/** `ecs:CLUSTER/TASK/CONTAINER`, the form people type. */
export function ecsLabel(container: { cluster: string; taskId: string; container: string }): string {
  return `ecs:${container.cluster}/${container.taskId}/${container.container}`;
}
