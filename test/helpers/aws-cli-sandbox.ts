// A throwaway environment for running the real AWS CLI (and the built plugin) against the
// local simulator only: fake credentials in env, empty config files, instance metadata
// off, the simulator's throwaway CA as AWS_CA_BUNDLE, and a PATH whose first entry holds
// `session-manager-plugin` -> dist binary. Also: the AWS CLIs on PATH, v1 and v2.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { throwawayTls } from '../../src/simulator/tls.ts';

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

export interface AwsCli {
  /** e.g. `AWS CLI v2`, for test names. */
  label: string;
  major: 1 | 2;
  /** The executable; undefined when no `aws` of this major version is on PATH. */
  path: string | undefined;
  /** The full version, e.g. `2.9.19`. */
  version: string;
  /**
   * How it hands the StartSession response to the plugin: in the environment variable
   * named by argv[1] (CLIs since late 2023, aws-cli pull requests 8336 and 8340: taken
   * here as v1 1.30 and v2 2.14 on), or as JSON in argv[1] (older ones, such as Debian
   * 12's v2 2.9.19). The tests check the path they see against this.
   */
  responseVia: 'env' | 'argv';
}

let clis: AwsCli[] | undefined;

/**
 * AWS CLI v1 and v2, each the first `aws` of that major version on PATH (found by running
 * `aws --version`; once per process). Both entries are always there: a missing CLI has no
 * `path`, and the tests that need it fail through {@link requireAwsCli}.
 */
export function awsClis(): AwsCli[] {
  if (clis) return clis;
  const found = new Map<number, { path: string; version: string }>();
  const seen = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = dir && findOnPath('aws', dir);
    if (!candidate) continue;
    const real = realpathSync(candidate);
    if (seen.has(real)) continue;
    seen.add(real);
    let output = '';
    try {
      output = execFileSync(candidate, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    } catch {
      continue;
    }
    const match = /aws-cli\/(\d+)\.(\d+)\.(\d+)/.exec(output);
    if (match && !found.has(Number(match[1]))) found.set(Number(match[1]), { path: candidate, version: match[0].slice(8) });
  }
  clis = ([1, 2] as const).map((major) => {
    const cli = found.get(major);
    const minor = Number(cli?.version.split('.')[1] ?? 0);
    return {
      label: `AWS CLI v${major}`,
      major,
      path: cli?.path,
      version: cli?.version ?? 'missing',
      responseVia: minor >= (major === 1 ? 30 : 14) ? 'env' : 'argv',
    };
  });
  return clis;
}

/** Fails the test (and returns undefined) when this CLI is not installed. */
export function requireAwsCli(t: { fail(message: string): unknown }, cli: AwsCli): string | undefined {
  if (cli.path) return cli.path;
  t.fail(`${cli.label} is not on PATH (v1: the machine image's; v2: Debian's awscli package, which .ci/run installs)`);
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
    // The simulator's throwaway CA (for its HTTPS endpoint), as a corporate user trusts
    // their TLS-inspecting proxy: the AWS CLI and the plugin both read it.
    AWS_CA_BUNDLE: throwawayTls().caFile,
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
