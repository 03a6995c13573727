// Running the tools a release uses (npm, tar, strip, dpkg-deb, rpmbuild, the host Node).
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

/** A release step that failed, with what the tool said. */
export class ReleaseError extends Error {
  override readonly name = 'ReleaseError';
}

/** Runs a command to its end; returns stdout, throws a ReleaseError carrying stderr on failure. */
export function run(command: string, args: readonly string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  if (result.error) throw new ReleaseError(`${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const said = `${String(result.stderr ?? '')}${String(result.stdout ?? '')}`.trim().split('\n').slice(-20).join('\n');
    throw new ReleaseError(`${[command, ...args].join(' ')} failed (exit ${result.status ?? result.signal})${said ? `:\n${said}` : ''}`);
  }
  return String(result.stdout ?? '');
}

/** The first of `names` found on PATH (as the shell finds commands), or undefined. */
export function findTool(...names: string[]): string | undefined {
  for (const name of names) {
    const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return undefined;
}

/** Like findTool, but a missing tool is a ReleaseError naming the Debian package that has it. */
export function requireTool(debianPackage: string, ...names: string[]): string {
  const found = findTool(...names);
  if (!found) throw new ReleaseError(`${names.join(' or ')} not found: install it (Debian/Ubuntu: apt-get install ${debianPackage})`);
  return found;
}
