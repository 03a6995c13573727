// `ssm-session` figures against the built-in simulator, with the agent's pacing on (1 KiB
// per ms per session, as the real agent): what a pool of sessions buys over one
// multiplexed session, and how soon `ssm-session ssh-proxy` delivers sshd's first byte
// compared with `aws ssm start-session ... AWS-StartSSHSession` (our plugin on PATH).
//
//   export async function benchPool(row)   row(name, value, note) prints one figure
//   node scripts/bench-pool.mjs [pool] [ssh]   runs alone and prints a table
//
// The pooled case downloads 8 × 32 MiB in full. The single session would need minutes
// for the same 256 MiB at ~1 MB/s, so it is measured over a fixed window instead (the
// same 8 downloads, bytes received in WINDOW_S seconds after the first byte); the
// output says so. Asserts nothing; the target (≥ 6x) is shown next to the ratio.
//
// `library`: the same question through the library's forwardPort (4 paced downloads over a
// pool of 4 sessions against 1 session), the figure test/client-pool.test.ts once bounded.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startSimulator } from '../src/simulator/index.ts';
import { createSandbox, findOnPath } from '../test/helpers/aws-cli-sandbox.ts';
import { startDestination, transfer } from '../test/helpers/port-traffic.ts';
import { startTestSshd } from '../test/helpers/ssm-session-sshd.ts';
import { useTestAwsEnvironment } from '../test/helpers/client-env.ts';
import { forwardPort } from '../src/client/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BINARY = path.join(root, 'dist', 'ssm-session');
const TARGET = 'i-0123456789abcdef0';
const MiB = 1024 * 1024;
const CONNECTIONS = 8;
const DOWNLOAD = 32 * MiB;
const WINDOW_S = 15;
const SSH_RUNS = 10;
const LIBRARY_DOWNLOADS = 4;
const LIBRARY_DOWNLOAD = 2 * MiB;

const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];

/** Starts the binary with piped stdio; `ready` resolves with the first stdout match. */
function startBinary(args, env, pattern) {
  const child = spawn(BINARY, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk) => (err += chunk));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = pattern.exec(out);
      if (match) resolve(match);
    });
    child.once('exit', (code) => reject(new Error(`ssm-session exited (${code}): ${err}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, ready, stop: async () => (child.kill('SIGTERM'), await exited) };
}

export async function benchPool(row, sections = ['pool', 'library', 'ssh']) {
  if (!existsSync(BINARY)) throw new Error('dist/ssm-session is missing; run `npm run build` first');
  if (sections.includes('pool')) await poolFigures(row);
  if (sections.includes('library')) await libraryPoolFigures(row);
  if (sections.includes('ssh')) await sshFigures(row);
}

/**
 * The simulator as a process of its own (so its paced agents do not share an event loop
 * with the destination and the clients of this process); resolves with its endpoint.
 */
export async function simulatorProcess() {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', path.join(root, 'src/simulator/cli.ts'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const endpoint = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /^(http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code})`)));
  });
  return { endpoint, close: async () => (child.kill('SIGTERM'), await exited) };
}

async function poolFigures(row) {
  const sim = await simulatorProcess(); // pacing is on by default
  const dest = await startDestination();
  const sandbox = createSandbox();
  const env = sandbox.env({ AWS_ENDPOINT_URL_SSM: sim.endpoint });
  try {
    const pooled = await withCli(env, ['forward', TARGET, '-L', `0:localhost:${dest.port}`, '--pool', String(CONNECTIONS)], (port) =>
      downloads(port, { full: true }),
    );
    row(
      `${CONNECTIONS} × 32 MiB downloads, pacing on, --pool ${CONNECTIONS} (a session each)`,
      `${pooled.mbps.toFixed(2)} MB/s aggregate`,
      `${(pooled.mbps / CONNECTIONS).toFixed(2)} MB/s per connection; ${(pooled.bytes / MiB).toFixed(0)} MiB in ${(pooled.ms / 1000).toFixed(1)} s, every byte checked (SHA-256); ssm-session CPU ${pooled.cpu.toFixed(1)} s`,
    );
    const single = await withCli(env, ['forward', TARGET, '-L', `0:localhost:${dest.port}`, '--pool', '1'], (port) =>
      downloads(port, { full: false }),
    );
    row(
      `${CONNECTIONS} × 32 MiB downloads, pacing on, --pool 1 (one multiplexed session; bytes in a ${WINDOW_S} s window)`,
      `${single.mbps.toFixed(2)} MB/s aggregate`,
      `the window starts at the first byte; all 256 MiB would take ~${Math.round((256 * 1.048576) / single.mbps)} s`,
    );
    row('pool speed-up (aggregate, pooled / single)', `${(pooled.mbps / single.mbps).toFixed(1)}x`, 'target ≥ 6x');
  } finally {
    sandbox.remove();
    await dest.close();
    await sim.close();
  }
}

/** The library's forwardPort: LIBRARY_DOWNLOADS paced downloads, a pool of as many sessions against one. */
async function libraryPoolFigures(row) {
  useTestAwsEnvironment();
  const sim = await simulatorProcess(); // pacing is on by default
  const dest = await startDestination();
  const aws = { endpoint: sim.endpoint, region: 'us-east-1' };
  const rate = async (maxSessions) => {
    const forward = await forwardPort({ target: TARGET, localPort: 0, port: dest.port, aws, pool: { maxSessions } });
    try {
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: LIBRARY_DOWNLOADS }, (_, i) =>
          transfer({ port: forward.address.port }, { seed: 300 + i, upload: 0, download: LIBRARY_DOWNLOAD, timeoutMs: 120_000 }).done,
        ),
      );
      if (results.some((r) => r.downloadReceived !== LIBRARY_DOWNLOAD || r.extraBytes !== 0)) throw new Error('a library download was damaged');
      return mbps(LIBRARY_DOWNLOADS * LIBRARY_DOWNLOAD, performance.now() - started);
    } finally {
      await forward.close();
    }
  };
  try {
    const single = await rate(1);
    const pooled = await rate(LIBRARY_DOWNLOADS);
    row(
      `library forwardPort: ${LIBRARY_DOWNLOADS} × ${LIBRARY_DOWNLOAD / MiB} MiB paced downloads, pool of ${LIBRARY_DOWNLOADS} vs 1 session`,
      `${(pooled / single).toFixed(1)}x`,
      `target > 2.5x (ideal ${LIBRARY_DOWNLOADS}x); ${pooled.toFixed(2)} vs ${single.toFixed(2)} MB/s`,
    );
  } finally {
    await dest.close();
    await sim.close();
  }
}

/** CPU seconds (user + system) a live process has used so far. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
}

/**
 * Runs `ssm-session <args>` until `fn(port)` is done (the port comes from its Forwarding
 * line); adds the CPU seconds the CLI used meanwhile as `cpu`.
 */
async function withCli(env, args, fn) {
  const cli = startBinary(args, env, /^Forwarding 127\.0\.0\.1:(\d+) /m);
  try {
    const port = Number((await cli.ready)[1]);
    const before = cpuSeconds(cli.child.pid);
    const result = await fn(port);
    return { ...result, cpu: cpuSeconds(cli.child.pid) - before };
  } finally {
    await cli.stop();
  }
}

/**
 * 8 parallel downloads of 32 MiB. `full`: to the end, each checked; aggregate over the
 * whole run. Otherwise: bytes received during WINDOW_S seconds from the first byte.
 */
async function downloads(port, { full }) {
  const started = performance.now();
  const transfers = Array.from({ length: CONNECTIONS }, (_, i) =>
    transfer({ port }, { seed: 100 + i, upload: 0, download: DOWNLOAD, timeoutMs: full ? 600_000 : (WINDOW_S + 60) * 1000 }),
  );
  const received = () => transfers.reduce((sum, t) => sum + t.received, 0);
  if (full) {
    const results = await Promise.all(transfers.map((t) => t.done));
    const ms = performance.now() - started;
    const bytes = results.reduce((sum, r) => sum + r.downloadReceived, 0);
    if (results.some((r) => r.echoedUploadDigest !== r.uploadDigest || r.extraBytes !== 0)) throw new Error('a pooled download was damaged');
    return { bytes, ms, mbps: mbps(bytes, ms) };
  }
  for (const t of transfers) t.done.catch(() => undefined); // destroyed at the window's end
  while (received() === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const from = performance.now();
  const fromBytes = received();
  await new Promise((resolve) => setTimeout(resolve, WINDOW_S * 1000));
  const bytes = received() - fromBytes;
  const ms = performance.now() - from;
  for (const t of transfers) t.socket.destroy();
  return { bytes, ms, mbps: mbps(bytes, ms) };
}

/** Time from exec to sshd's banner (`SSH-2.0-...`) on stdout, for a command line. */
async function timeToBanner(command, args, env) {
  const started = performance.now();
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk) => (err += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const banner = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('SSH-2.0-')) resolve(performance.now() - started);
    });
    child.once('exit', (code) => reject(new Error(`${path.basename(command)} exited (${code}) before the banner: ${err}`)));
    setTimeout(() => reject(new Error(`no banner after 30 s: ${err}`)), 30_000).unref();
  });
  child.stdin.end();
  const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  return banner;
}

async function sshFigures(row) {
  const aws = findOnPath('aws');
  const sim = await startSimulator({ pacing: true, frameLogLimit: 0 });
  const sandbox = createSandbox();
  const sshd = await startTestSshd(path.join(sandbox.dir, 'sshd'));
  const env = sandbox.env(process.env.DEBUG_LOG ? { SESSION_MANAGER_PLUGIN_LOG: process.env.DEBUG_LOG } : {});
  try {
    const ours = [];
    const viaAws = [];
    for (let i = 0; i < SSH_RUNS; i++) {
      ours.push(await timeToBanner(BINARY, ['--endpoint-url', sim.endpoint, 'ssh-proxy', TARGET, String(sshd.port)], env));
      if (aws) {
        viaAws.push(
          await timeToBanner(
            aws,
            ['ssm', 'start-session', '--target', TARGET, '--document-name', 'AWS-StartSSHSession', '--parameters', `portNumber=${sshd.port}`, '--endpoint-url', sim.endpoint],
            env,
          ),
        );
        // The official plugin leaves the session (and the agent's connection to sshd) open
        // when its stdin closes first; end them, or sshd's MaxStartups would throttle.
        for (const session of sim.sessions.values()) if (session.status === 'active') sim.terminateSession(session.sessionId);
      }
    }
    const figure = (samples) => `${quantile(samples, 0.5).toFixed(0)} ms / ${quantile(samples, 0.9).toFixed(0)} ms`;
    row(`ssm-session ssh-proxy: exec to sshd's first byte (median / p90 of ${SSH_RUNS})`, figure(ours), 'single binary, SDK StartSession, no Python');
    if (aws) {
      row(`aws ssm start-session AWS-StartSSHSession + our plugin: exec to sshd's first byte (median / p90 of ${SSH_RUNS})`, figure(viaAws), 'AWS CLI (Python) start-up included');
    } else {
      row('aws ssm start-session AWS-StartSSHSession', 'not measured', 'aws (AWS CLI) not on PATH');
    }
  } catch (err) {
    process.stderr.write(sshd.log());
    throw err;
  } finally {
    sshd.stop();
    sandbox.remove();
    await sim.close();
  }
}

/** Runs `bench(row)` as a script of its own: each figure on stderr as it comes, then a table. */
export async function runAlone(bench) {
  const rows = [];
  const row = (name, value, note = '') => {
    rows.push([name, value, note]);
    process.stderr.write(`  ${name}: ${value}${note ? ` (${note})` : ''}\n`);
  };
  await bench(row);
  process.stdout.write('\n| figure | value | note |\n|---|---|---|\n' + rows.map(([n, v, note]) => `| ${n} | ${v} | ${note} |`).join('\n') + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sections = process.argv.slice(2);
  await runAlone((row) => benchPool(row, sections.length > 0 ? sections : undefined));
}
