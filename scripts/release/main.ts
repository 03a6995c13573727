// `npm run release`: from this (Linux x64) machine, one single executable per platform and
// the downloads made of them, in dist/release/:
//
//   bin/<target>/session-manager-plugin[.exe]   the binaries (ssm-session: a hard link to it)
//   session-manager-plugin-ts-<version>-<target>.tar.gz / .tar.xz / .zip
//   session-manager-plugin-ts_<version>-1_<arch>.deb, session-manager-plugin-ts-<version>-1.<arch>.rpm
//   session-manager-plugin-ts-<version>.tgz      the npm package
//   install.sh, SHA256SUMS, report.json
//
// Options: --targets linux-x64,win-x64 (default: all), --no-packages (binaries only).
// The official Node binaries come from the npm registry once and are cached (node-cache.ts).
// Ends with a report: sizes, SHA-256s, times, and the targets met or not.
import { spawnSync } from 'node:child_process';
import { readdir, readFile, mkdir, rm, stat, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundles } from '../lib/bundle.ts';
import { PROGRAM_NAMES } from '../lib/sea.ts';
import { buildExecutable } from './executable.ts';
import { digest, nodeBinary } from './node-cache.ts';
import { debPackage, rpmPackage, tarballs, zipArchive, type PackageInputs } from './packages.ts';
import { ReleaseError, requireTool, run } from './run.ts';
import { hostTarget, NODE_VERSION, TARGETS, targetById, type Target } from './targets.ts';
import { formatReport, type Report } from './report.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = path.join(root, 'dist', 'release');
const work = path.join(outDir, '.work');
const started = performance.now();
const log = (line: string) => process.stderr.write(`release: ${line}\n`);

interface Options {
  targets: Target[];
  packages: boolean;
}

function parseOptions(args: string[]): Options {
  let targets = [...TARGETS];
  let packages = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--no-packages') packages = false;
    else if (arg === '--targets' && args[i + 1]) targets = args[++i]!.split(',').map(targetById);
    else if (arg.startsWith('--targets=')) targets = arg.slice('--targets='.length).split(',').map(targetById);
    else throw new ReleaseError(`unknown option ${arg} (use --targets ID,... and --no-packages)`);
  }
  return { targets, packages };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string; repository?: unknown };
  const host = hostTarget();
  if (!host) throw new ReleaseError(`no target runs on ${process.platform}-${process.arch}: run the release on Linux, macOS or Windows x64/arm64`);
  const epoch = sourceDateEpoch();

  await rm(outDir, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const hostNode = await nodeBinary(host, log);
  for (const target of options.targets) await nodeBinary(target, log);
  const downloadsDone = performance.now();

  log(`bundling; SDK code cache with the host's Node ${NODE_VERSION}`);
  const bundles = await buildBundles(root, work, { sdk: true });
  const sdkCache = path.join(work, 'aws-sdk.cache');
  run(hostNode, ['--disable-warning=ExperimentalWarning', path.join(root, 'scripts/lib/sdk-code-cache.ts'), bundles.sdk, sdkCache]);

  const report: Report = {
    version: pkg.version,
    node: NODE_VERSION,
    targets: [],
    artifacts: [],
    seconds: { total: 0, downloads: (downloadsDone - started) / 1000, executables: 0, packages: 0 },
  };
  const exes = new Map<Target, string>();
  const executablesStarted = performance.now();
  for (const target of options.targets) {
    const t0 = performance.now();
    log(`${target.id}: single executable`);
    const isHost = target === host;
    const exe = await buildExecutable(target, {
      bundles,
      ...(isHost ? { sdkCache } : {}),
      hostNode,
      host: isHost,
      work,
      outDir: path.join(outDir, 'bin', target.id),
      log,
    });
    exes.set(target, exe);
    const size = (await stat(exe)).size;
    report.targets.push({
      id: target.id,
      binary: path.relative(outDir, exe),
      size,
      sha256: await digest(exe, 'sha256'),
      seconds: (performance.now() - t0) / 1000,
      ...(isHost ? versionTimes(exe, target, hostNode) : {}),
      archives: [],
    });
  }

  report.seconds.executables = (performance.now() - executablesStarted) / 1000;
  const packagesStarted = performance.now();
  if (options.packages) {
    log('packages');
    const tasks: Array<() => Promise<string | string[]>> = [];
    for (const [target, exe] of exes) {
      const inputs: PackageInputs = { target, exe, version: pkg.version, license: path.join(root, 'LICENSE'), epoch, work, outDir };
      if (target.os === 'win32') tasks.push(() => zipArchive(inputs));
      else tasks.push(() => tarballs(inputs));
      if (target.deb) tasks.push(() => debPackage(inputs));
      if (target.rpm) tasks.push(() => rpmPackage(inputs));
    }
    await inPool(tasks, 2);
    run(requireTool('npm', 'npm'), ['pack', '--silent', '--pack-destination', outDir], { cwd: root });
    const script = (await readFile(path.join(root, 'scripts/release/install.sh'), 'utf8'))
      .replace("VERSION='__VERSION__'", `VERSION='${pkg.version}'`)
      .replace("FROM='__BASE_URL__'", `FROM='${releaseBaseUrl(pkg, process.env)}'`);
    await writeFile(path.join(outDir, 'install.sh'), script);
    await chmod(path.join(outDir, 'install.sh'), 0o755);
  }
  report.seconds.packages = (performance.now() - packagesStarted) / 1000;

  await rm(work, { recursive: true, force: true });
  for (const name of (await readdir(outDir)).sort()) {
    const file = path.join(outDir, name);
    if (!(await stat(file)).isFile()) continue;
    const artifact = { file: name, size: (await stat(file)).size, sha256: await digest(file, 'sha256') };
    report.artifacts.push(artifact);
    const owner = report.targets.find((t) => name.includes(`-${t.id}.`) || debRpmArch(name) === t.id);
    owner?.archives.push(artifact);
  }
  await writeFile(path.join(outDir, 'SHA256SUMS'), report.artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join(''));
  report.seconds.total = (performance.now() - started) / 1000;
  await writeFile(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(formatReport(report, options.targets.length === TARGETS.length && options.packages));
}

/** The Linux target a .deb or .rpm file name is for. */
function debRpmArch(name: string): string | undefined {
  const match = /_(amd64|arm64)\.deb$|\.(x86_64|aarch64)\.rpm$/.exec(name);
  const arch = match?.[1] ?? match?.[2];
  return arch === undefined ? undefined : TARGETS.find((t) => t.deb === arch || t.rpm === arch)?.id;
}

/**
 * Median wall times over 20 runs (after 3 to warm the page cache) of `--version` and, for
 * comparison on a busy machine, of the host's plain Node starting with nothing to do
 * (`node -e 0`), interleaved. Checks --version under both names on the way.
 */
function versionTimes(exe: string, target: Target, hostNode: string): { versionMs: number; nodeBaselineMs: number } {
  for (const name of PROGRAM_NAMES) {
    const result = spawnSync(path.join(path.dirname(exe), `${name}${target.suffix}`), ['--version'], { encoding: 'utf8' });
    if (result.status !== 0 || !/^\d+\.\d+\.\d+\.\d+\n$/.test(result.stdout)) {
      throw new ReleaseError(`${name} --version failed: ${result.stderr || result.stdout}`);
    }
  }
  const timed = (command: string, args: string[]) => {
    const t0 = performance.now();
    spawnSync(command, args);
    return performance.now() - t0;
  };
  const version: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < 23; i++) {
    const v = timed(exe, ['--version']);
    const b = timed(hostNode, ['-e', '0']);
    if (i < 3) continue;
    version.push(v);
    baseline.push(b);
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
  return { versionMs: median(version), nodeBaselineMs: median(baseline) };
}

/** Where install.sh fetches from by default: RELEASE_BASE_URL, else the GitHub release of package.json's repository. */
function releaseBaseUrl(pkg: { version: string; repository?: unknown }, env: NodeJS.ProcessEnv): string {
  if (env.RELEASE_BASE_URL) return env.RELEASE_BASE_URL;
  const repository = typeof pkg.repository === 'string' ? pkg.repository : (pkg.repository as { url?: string } | undefined)?.url;
  const match = /github\.com[/:]([^/]+)\/([^/.]+)/.exec(repository ?? '');
  return match ? `https://github.com/${match[1]}/${match[2]}/releases/download/v${pkg.version}` : '';
}

/** SOURCE_DATE_EPOCH, else the last commit's time, else now: the time inside every archive. */
function sourceDateEpoch(): number {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  const git = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' });
  const fromGit = Number(git.stdout?.trim());
  return Number.isInteger(fromGit) && fromGit > 0 ? fromGit : Math.floor(Date.now() / 1000);
}

/** Runs the tasks, at most `size` at a time. */
async function inPool<T>(tasks: Array<() => Promise<T>>, size: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: size }, worker));
  return results;
}

main().catch((err: unknown) => {
  process.stderr.write(`release: ${err instanceof ReleaseError || err instanceof Error ? err.message : String(err)}\n`);
  if (!(err instanceof ReleaseError) && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
