// The release report: what was built, how big, its SHA-256, how long it took, and the
// targets (issue 11) met or not. Sizes in MB are millions of bytes.

export interface Artifact {
  file: string;
  size: number;
  sha256: string;
}

export interface TargetReport {
  id: string;
  /** Relative to dist/release. */
  binary: string;
  size: number;
  sha256: string;
  seconds: number;
  /** Median --version wall time of the host's binary, and of its plain Node doing nothing. */
  versionMs?: number;
  nodeBaselineMs?: number;
  archives: Artifact[];
}

export interface Report {
  version: string;
  node: string;
  targets: TargetReport[];
  artifacts: Artifact[];
  seconds: { total: number; downloads: number; executables: number; packages: number };
}

export const LIMITS = {
  binaryBytes: 110e6,
  downloadBytes: 40e6,
  versionMs: 60,
  releaseSeconds: 600,
};

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** The smallest download of a target (its .tar.xz, .zip, .deb or .rpm). */
export function smallestDownload(target: TargetReport): Artifact | undefined {
  return [...target.archives].sort((a, b) => a.size - b.size)[0];
}

export function formatReport(report: Report, complete: boolean): string {
  const lines = [`\nsession-manager-plugin-ts ${report.version} on Node ${report.node}\n`];
  for (const target of report.targets) {
    lines.push(`${target.id.padEnd(13)} ${mb(target.size).padStart(9)}  sha256 ${target.sha256}  built in ${target.seconds.toFixed(1)}s`);
    for (const archive of target.archives) lines.push(`${''.padEnd(13)} ${mb(archive.size).padStart(9)}  ${archive.file}`);
  }
  lines.push('', 'SHA256SUMS:', ...report.artifacts.map((a) => `  ${a.sha256}  ${a.file}`), '');
  lines.push('Targets:');
  for (const target of report.targets) {
    const download = smallestDownload(target);
    lines.push(
      `  ${target.id}: binary ${mb(target.size)} <= 110 MB ${mark(target.size <= LIMITS.binaryBytes)}` +
        (download ? `; smallest download ${mb(download.size)} <= 40 MB ${mark(download.size <= LIMITS.downloadBytes)}` : ''),
    );
  }
  const host = report.targets.find((t) => t.versionMs !== undefined);
  if (host) {
    lines.push(
      `  ${host.id} --version ${host.versionMs!.toFixed(1)} ms (median of 20) <= 60 ms ${mark(host.versionMs! <= LIMITS.versionMs)}` +
        ` (plain \`node -e 0\` here and now: ${host.nodeBaselineMs!.toFixed(1)} ms)`,
    );
  }
  const { total, downloads, executables, packages } = report.seconds;
  lines.push(
    `  release ${total.toFixed(0)}s (downloads ${downloads.toFixed(0)}s, executables ${executables.toFixed(0)}s, packages ${packages.toFixed(0)}s) <= 600 s` +
      (complete ? ` ${mark(total - downloads <= LIMITS.releaseSeconds)} (without downloads)` : ' (not all targets and packages: not judged)'),
    '',
  );
  return lines.join('\n');
}
