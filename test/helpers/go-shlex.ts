// The real github.com/google/shlex (the agent's word splitter; Debian's
// golang-github-google-shlex-dev is the commit the agent vendors) behind a small Go driver
// built at test time, for checking what the agent makes of the commands we send.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './aws-cli-sandbox.ts';

const DRIVER_SOURCE = path.join(ROOT, 'test', 'go', 'shlex-split');
const GOPATH = '/usr/share/gocode';

export interface ShlexSplit {
  words: string[];
  error?: string;
}

/** Builds the driver; `missing` says why it cannot be (no Go, no shlex package). */
export function buildShlexDriver(): { split(inputs: readonly string[]): ShlexSplit[]; cleanup(): void } | { missing: string } {
  if (!existsSync(path.join(GOPATH, 'src', 'github.com', 'google', 'shlex', 'shlex.go'))) {
    return { missing: 'golang-github-google-shlex-dev is not installed (.ci/run installs it)' };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'shlex-driver-'));
  const binary = path.join(dir, 'shlex-split');
  const built = spawnSync('go', ['build', '-o', binary, '.'], {
    cwd: DRIVER_SOURCE,
    env: { ...process.env, GOPATH, GO111MODULE: 'off', GOCACHE: path.join(dir, 'cache'), GOFLAGS: '' },
    encoding: 'utf8',
  });
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  if (built.error || built.status !== 0) {
    cleanup();
    return { missing: `go build failed (golang-go installed?): ${built.error?.message ?? built.stderr}` };
  }
  return {
    cleanup,
    split(inputs) {
      const run = spawnSync(binary, [], { input: JSON.stringify(inputs), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (run.status !== 0) throw new Error(`shlex driver failed: ${run.stderr}`);
      return (JSON.parse(run.stdout) as Array<{ words: string[]; error?: string }>).map((r) => (r.error === undefined ? { words: r.words } : r));
    },
  };
}
