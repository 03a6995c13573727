// A throwaway environment for running the real AWS CLI (and the built plugin) against the
// local simulator only: fake credentials in env, empty config files, instance metadata
// off, and a PATH whose first entry holds `session-manager-plugin` -> dist binary.
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PLUGIN_BINARY = path.join(ROOT, 'dist', 'session-manager-plugin');
export const REGION = 'us-east-1';

/** Finds an executable on the *original* PATH (before the sandbox's bin dir). */
export function findOnPath(name: string, searchPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface Sandbox {
  /** The temporary directory (bin dir, config files, logs). */
  dir: string;
  /** Directory put first on PATH, holding the `session-manager-plugin` symlink. */
  binDir: string;
  /** A clean environment: nothing from the caller's AWS_* or NODE_* settings. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** A fresh path in the sandbox for a debug log. */
  logPath(name: string): string;
  remove(): void;
}

export function createSandbox(): Sandbox {
  const dir = mkdtempSync(path.join(tmpdir(), 'smp-e2e-'));
  const binDir = path.join(dir, 'bin');
  mkdirSync(binDir);
  symlinkSync(PLUGIN_BINARY, path.join(binDir, 'session-manager-plugin'));
  const configFile = path.join(dir, 'aws-config');
  const credentialsFile = path.join(dir, 'aws-credentials');
  writeFileSync(configFile, '');
  writeFileSync(credentialsFile, '');
  const base: NodeJS.ProcessEnv = {
    HOME: process.env.HOME ?? dir, // pyenv needs it
    PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}`,
    LANG: process.env.LANG ?? 'C.UTF-8',
    TERM: 'xterm-256color',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_DEFAULT_REGION: REGION,
    AWS_REGION: REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
    AWS_PAGER: '',
    // Keep any proxy settings of the host from routing 127.0.0.1 traffic elsewhere.
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
  // pyenv's shims may rely on these.
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('PYENV') && value !== undefined) base[key] = value;
  }
  return {
    dir,
    binDir,
    env: (extra = {}) => ({ ...base, ...extra }),
    logPath: (name) => path.join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
