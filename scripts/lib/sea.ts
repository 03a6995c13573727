// The single-executable (Node SEA) settings shared by `npm run build` and `npm run release`,
// and the names the one binary answers to.
import { chmod, copyFile, link, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SDK_ASSET, SDK_CACHE_ASSET } from '../../src/aws/load-sdk.ts';

export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** The binary is made under the first name; the others are hard links to it (src/entry/program.ts). */
export const PROGRAM_NAMES = ['session-manager-plugin', 'ssm-session'] as const;

export interface SeaConfigOptions {
  /** The bundle run as the main script (main.cjs). */
  main: string;
  /** The SDK bundle, and its V8 code cache when the binary's Node made one. */
  sdk: string;
  sdkCache?: string;
  /** Code cache for the main script: only when the Node making the blob is the binary's own platform. */
  useCodeCache: boolean;
  /** For --experimental-sea-config: the blob; for --build-sea: the executable written. */
  output: string;
  /** For --build-sea: the Node binary the blob goes into (default: the Node running it). */
  executable?: string;
}

/** The SEA configuration file's content. */
export function seaConfig(options: SeaConfigOptions): Record<string, unknown> {
  return {
    main: options.main,
    output: options.output,
    ...(options.executable === undefined ? {} : { executable: options.executable }),
    disableExperimentalSEAWarning: true,
    useCodeCache: options.useCodeCache,
    useSnapshot: false, // crashes once http/ws are loaded
    execArgvExtension: 'none', // NODE_OPTIONS and --node-options are not honoured
    // A young generation of 2 MiB (1 MiB semi-spaces), not 128: a transfer touches every
    // page of it, and with 2 MiB semi-spaces the V8 heap grew by 5-9.5 MiB during a
    // 64 MiB transfer each way, with 1 MiB by 3.5-5.
    // Optimising compilation stays on a worker thread. On the main thread
    // (--no-concurrent-recompilation) it saved 2-4 MiB of that worker's malloc arena but
    // stalled the event loop while compiling: 1-byte round trips beside a 64 MiB upload at
    // 100 ms RTT, p99 median of 9 runs 226 ms with it against 197-202 without (target 220).
    // Two V8 worker threads, not four (fewer malloc arenas; one alone lets GC fall
    // behind): peak anonymous memory during a 256 MiB upload at ~90 MB/s was 28-33 MiB,
    // against 31-37 with one thread and 31-34 with four.
    // --use-system-ca: TLS trusts the OS certificate store too, as the official plugin
    // does (src/net/tls-trust.ts).
    execArgv: ['--max-semi-space-size=1', '--v8-pool-size=2', '--use-system-ca'],
    assets: {
      [SDK_ASSET]: options.sdk,
      ...(options.sdkCache === undefined ? {} : { [SDK_CACHE_ASSET]: options.sdkCache }),
    },
  };
}

/**
 * Gives `exe` (named after the first program) its other names in the same directory: hard
 * links, or copies where the file system has none. `suffix` is '.exe' on Windows.
 */
export async function addProgramNames(exe: string, suffix = ''): Promise<string[]> {
  const others = PROGRAM_NAMES.slice(1).map((name) => path.join(path.dirname(exe), `${name}${suffix}`));
  for (const other of others) {
    await rm(other, { force: true });
    await link(exe, other).catch(() => copyFile(exe, other));
  }
  return others;
}

/**
 * Copies `file` onto itself through a fresh file. One big write() leaves the page cache in
 * large folios, and every run of that file then maps ~30 MB more (measured: 65 instead of
 * 44 MiB RSS for --version), as if it were a different program; a copy does not. Only the
 * figures measured on the build machine are at stake: a download is written in small pieces.
 */
export async function settleInPageCache(file: string, mode = 0o755): Promise<void> {
  const aside = `${file}.written`;
  await rename(file, aside);
  await copyFile(aside, file);
  await rm(aside);
  await chmod(file, mode);
}
