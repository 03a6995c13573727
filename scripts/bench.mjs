// `npm run bench`: start-up, memory and interactive latency figures of the single binary,
// against the built-in simulator. Prints a table; asserts nothing (targets live in the
// closing notes and README, not in timed tests).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import pty from 'node-pty';
import { startSimulator } from '../src/simulator/index.ts';
import { throwawayTls } from '../src/simulator/tls.ts';
import { benchPort } from './bench-port.mjs';
import { benchPool } from './bench-pool.mjs';
import { benchCp } from './bench-cp.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binary = path.join(root, 'dist', 'session-manager-plugin');
if (!existsSync(binary)) {
  process.stderr.write('bench: dist/session-manager-plugin is missing; run `npm run build` first.\n');
  process.exit(1);
}
const env = { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'bench', AWS_EC2_METADATA_DISABLED: 'true' };

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const ms = (v) => `${v.toFixed(2)} ms`;
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
const rows = [];
const row = (name, value, note = '') => {
  rows.push([name, value, note]);
  process.stderr.write(`  ${name}: ${value}${note ? `  (${note})` : ''}\n`);
};

/** --version: wall time (median of 30) and max RSS, via GNU time when present. */
function versionFigures() {
  const times = [];
  for (let i = 0; i < 30; i++) {
    const start = performance.now();
    const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    times.push(performance.now() - start);
    if (result.status !== 0) throw new Error(`--version failed: ${result.stderr}`);
  }
  row('--version wall time (median / p90 of 30)', `${ms(quantile(times, 0.5))} / ${ms(quantile(times, 0.9))}`);
  if (existsSync('/usr/bin/time')) {
    const rss = [];
    for (let i = 0; i < 5; i++) {
      const out = spawnSync('/usr/bin/time', ['-f', '%M', binary, '--version'], { encoding: 'utf8' });
      rss.push(Number(out.stderr.trim().split('\n').pop()));
    }
    row('--version max RSS', `${(quantile(rss, 0.5) / 1024).toFixed(1)} MiB`);
  }
}

/** Wall time (median of 20) of `node -e 0` with the Node running the bench: Node's own start-up here. */
function nodeStartup() {
  const times = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    times.push(performance.now() - start);
  }
  return quantile(times, 0.5);
}

/**
 * CPU time a live process has spent so far, two ways. `live`: nanoseconds on a CPU summed over
 * its threads (the first field of each /proc/<pid>/task/<tid>/schedstat), precise but blind to
 * threads that have already exited (Node's off-thread loading of CA certificates does). `all`:
 * utime + stime of /proc/<pid>/stat, which keeps exited threads' time but counts in 10 ms ticks,
 * each rounded down (half a tick each is added back, so that the mean is unbiased). Neither
 * counts the time spent waiting for a core, which is most of what load adds to wall time.
 * Undefined where there is no /proc (not Linux) or once the process is gone.
 */
const TICK_MS = 10; // USER_HZ is 100 on every Linux architecture Node supports
function cpuTimes(pid) {
  if (process.platform !== 'linux' || pid === undefined) return { live: undefined, all: undefined };
  try {
    let liveNs = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      liveNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    // Fields after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { live: liveNs / 1e6, all: (Number(fields[11]) + Number(fields[12]) + 1) * TICK_MS };
  } catch {
    return { live: undefined, all: undefined };
  }
}

/** Stops a child and waits for it, so the next run does not share the CPU with it. */
async function killAndReap(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** The Node options the single executable runs with (its SEA config's execArgv). */
const seaExecArgv = () => JSON.parse(readFileSync(path.join(root, 'dist', 'sea-config.json'), 'utf8')).execArgv ?? [];

/**
 * The baseline: this Node (the binary the SEA is built from), with the SEA's options and the
 * plugin's environment, started on a one-line script that writes a byte and stays alive. Wall
 * and CPU time are taken when the byte arrives, as for the plugin below at OpenDataChannel,
 * so plugin − baseline is what our bundle, the connection and TLS add to Node's start-up.
 */
async function baselineSample(childEnv) {
  const start = performance.now();
  const child = spawn(process.execPath, [...seaExecArgv(), '-e', "process.stdout.write('x'); setInterval(() => {}, 1e6)"], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const cpu = await new Promise((resolve) => child.stdout.once('data', () => resolve(cpuTimes(child.pid))));
  const wall = performance.now() - start;
  await killAndReap(child);
  return { wall, ...cpu };
}

/** One exec of the plugin until its OpenDataChannel text reaches `wss` (a WebSocketServer at `url`). */
async function pluginSample(wss, url, childEnv) {
  let child;
  const arrived = new Promise((resolve) =>
    // CPU time read in the handler, before the process is killed: what it spent up to sending
    // OpenDataChannel (plus the little it runs until this callback).
    wss.once('connection', (ws) => ws.once('message', () => resolve({ at: performance.now(), cpu: cpuTimes(child.pid) }))),
  );
  const start = performance.now();
  child = spawn(binary, ['AWS_SSM_START_SESSION_RESPONSE', 'us-east-1', 'StartSession', '', '{"Target":"i-0"}', 'http://127.0.0.1:9'], {
    env: { ...childEnv, AWS_SSM_START_SESSION_RESPONSE: JSON.stringify({ SessionId: 'bench', TokenValue: 'bench-token', StreamUrl: url }) },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const { at, cpu } = await arrived;
  await killAndReap(child);
  return { wall: at - start, ...cpu };
}

const loadAverage = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

/**
 * From exec of the binary to the OpenDataChannel text arriving at a WebSocket server, over
 * ws:// and over wss:// as real sessions are (TLS adds the trust store and the handshake), and
 * over wss:// with AWS_CA_BUNDLE set (the trust is then built in JavaScript, net/tls-trust.ts).
 * Runs alternate baseline and each case, so that a change of load touches all of them alike.
 */
async function execToOpenDataChannel(runs = 20) {
  const tls = throwawayTls();
  // NODE_EXTRA_CA_CERTS, not AWS_CA_BUNDLE: Node's default trust (bundled roots and the OS
  // store) stays in use, as for a user without a bundle; an AWS_CA_BUNDLE inherited from the
  // shell running the bench is dropped, and set only in the case that is about it.
  const { AWS_CA_BUNDLE: _inherited, ...withoutBundle } = env;
  const childEnv = { ...withoutBundle, NODE_EXTRA_CA_CERTS: tls.caFile };
  const cases = {
    'ws://': { server: http.createServer(), scheme: 'ws', env: childEnv },
    'wss://': { server: https.createServer({ key: tls.key, cert: tls.cert }), scheme: 'wss', env: childEnv },
    'wss:// with AWS_CA_BUNDLE': { server: https.createServer({ key: tls.key, cert: tls.cert }), scheme: 'wss', env: { ...childEnv, AWS_CA_BUNDLE: tls.caFile } },
  };
  const loadBefore = loadAverage();
  const nodeMs = nodeStartup();
  for (const c of Object.values(cases)) {
    c.wss = new WebSocketServer({ server: c.server });
    await new Promise((resolve) => c.server.listen(0, '127.0.0.1', resolve));
    c.url = `${c.scheme}://127.0.0.1:${c.server.address().port}/v1/data-channel/bench?role=publish_subscribe`;
    c.samples = [];
  }
  const baseline = [];
  for (let i = 0; i < runs; i++) {
    baseline.push(await baselineSample(childEnv));
    for (const c of Object.values(cases)) c.samples.push(await pluginSample(c.wss, c.url, c.env));
  }
  for (const c of Object.values(cases)) {
    c.wss.close();
    c.server.close();
  }
  // Medians; the tick-counted CPU time as a mean, which 10 ms steps do not hide.
  const figures = (samples) => {
    const known = (key) => samples.every((x) => x[key] !== undefined);
    return {
      wall: quantile(samples.map((x) => x.wall), 0.5),
      wallP90: quantile(samples.map((x) => x.wall), 0.9),
      live: known('live') ? quantile(samples.map((x) => x.live), 0.5) : undefined,
      all: known('all') ? samples.reduce((sum, x) => sum + x.all, 0) / samples.length : undefined,
    };
  };
  const cpuText = (f) => (f.live === undefined ? 'CPU n/a (no /proc)' : `CPU ${ms(f.live)} live threads, ${ms(f.all)} all threads`);
  const base = figures(baseline);
  row('node -e 0, to exit (median of 20)', ms(nodeMs), "Node's own start-up here");
  row(
    `baseline: node -e with the SEA's options, to its first byte (median of ${runs})`,
    `wall ${ms(base.wall)}, ${cpuText(base)}`,
    'CPU: live threads = sum of /proc schedstat (ns), all threads = /proc stat ticks incl. exited threads (mean)',
  );
  for (const [name, c] of Object.entries(cases)) {
    const f = figures(c.samples);
    const ours = `ours = plugin − baseline: wall ${ms(f.wall - base.wall)}` + (f.live === undefined ? '' : `, CPU ${ms(f.live - base.live)} live / ${ms(f.all - base.all)} all`);
    row(
      `exec to OpenDataChannel, ${name} (median / p90 of ${runs})`,
      `wall ${ms(f.wall)} / ${ms(f.wallP90)}, ${cpuText(f)}`,
      `target ≤ 50 ms exec→OpenDataChannel (wall): ${verdict(f.wall <= 50)}; ${ours}`,
    );
  }
  const sslEnv = ['SSL_CERT_FILE', 'SSL_CERT_DIR'].filter((name) => env[name]).join(', ') || 'none';
  row('load average (1 / 5 / 15 min) before / after', `${loadBefore} / ${loadAverage()}`, `${os.availableParallelism()} CPUs; OS store variables set: ${sslEnv}`);
}

/** The plugin's session for the echo figures: the binary in a local pty, as a user runs it. */
async function pluginEchoSession(simulator, { cols, rows }) {
  const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient({ region: 'us-east-1', endpoint: simulator.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'bench' } });
  const response = await ssm.send(new StartSessionCommand({ Target: 'i-0123456789abcdef0' }));
  ssm.destroy();
  const term = pty.spawn(binary, ['AWS_SSM_START_SESSION_RESPONSE', 'us-east-1', 'StartSession', '', '{"Target":"i-0123456789abcdef0"}', simulator.endpoint], {
    cols,
    rows,
    env: { ...env, AWS_SSM_START_SESSION_RESPONSE: JSON.stringify({ SessionId: response.SessionId, TokenValue: response.TokenValue, StreamUrl: response.StreamUrl }) },
  });
  let screen = '';
  let waiter;
  term.onData((data) => {
    screen += data;
    if (waiter && screen.includes(waiter.text, waiter.from)) {
      const done = waiter.resolve;
      waiter = undefined;
      done(performance.now());
    }
  });
  const waitFor = (text, from = 0) =>
    new Promise((resolve, reject) => {
      waiter = { text, from, resolve };
      setTimeout(() => reject(new Error(`plugin: timed out waiting for ${JSON.stringify(text)}; screen: ${screen.slice(-300)}`)), 10_000).unref();
    });
  await waitFor('$ ');
  return {
    /**
     * One key typed at the pty until its echo comes back out of it. Written to the pty's
     * master directly, as a terminal emulator writes: node-pty's write() goes through an
     * fs.write on libuv's thread pool (a thread hand-off and a wake-up of this loop before
     * the byte even reaches the pty), which is this harness's cost, not the plugin's. One
     * byte into an idle pty never blocks.
     */
    async key(key) {
      const echoed = waitFor(key, screen.length);
      const start = performance.now();
      writeSync(term.fd, key);
      return (await echoed) - start;
    },
    async clear() {
      const cleared = waitFor('$ ', screen.length);
      term.write('\x15\r');
      await cleared;
    },
    async close() {
      const exited = new Promise((resolve) => term.onExit(resolve));
      term.write('\x15exit\r');
      await exited;
    },
  };
}

/**
 * The baseline's session: the codec-only client of bench-raw-echo-client.mjs in its own
 * process. Not in this one: here it would share an event loop with the simulator (no
 * process to wake when a frame arrives, and a busy simulator delaying it), which the
 * plugin, like any real client, cannot. It times each key itself, from its send to the
 * echo frame, so the pipe that carries the commands is not in its figures; the plugin's
 * figures keep its pty, which every user has in front of it.
 */
async function rawEchoSession(simulator, { cols, rows }) {
  const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient({ region: 'us-east-1', endpoint: simulator.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'bench' } });
  const response = await ssm.send(new StartSessionCommand({ Target: 'i-0123456789abcdef0' }));
  ssm.destroy();
  const child = spawn(process.execPath, [path.join(root, 'scripts', 'bench-raw-echo-client.mjs'), response.StreamUrl, response.TokenValue, String(cols), String(rows)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = [];
  let waiter;
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (text) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop();
    lines.push(...parts);
    if (waiter && lines.length > 0) {
      const done = waiter;
      waiter = undefined;
      done(lines.shift());
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const next = () =>
    lines.length > 0
      ? Promise.resolve(lines.shift())
      : Promise.race([
          new Promise((resolve) => (waiter = resolve)),
          exited.then((code) => Promise.reject(new Error(`raw echo client exited (${code})`))),
          new Promise((_, reject) => setTimeout(() => reject(new Error('raw echo client: no answer in 10 s')), 10_000).unref()),
        ]);
  const ready = await next();
  if (ready !== 'ready') throw new Error(`raw echo client: ${ready}`);
  return {
    async key(key) {
      child.stdin.write(`k${key}\n`);
      return Number(await next());
    },
    async clear() {
      child.stdin.write('c\n');
      await next();
    },
    async close() {
      child.stdin.write('q\n');
      await exited;
    },
  };
}

/**
 * The simulator in a process of its own (src/simulator/cli.ts), as the service is for a
 * user: in this one, its handling of the plugin's acknowledgement (written right after
 * the echo reaches the pty) would sit in front of this process reading the echo from the
 * pty, a delay only the plugin's figures would carry (the raw client stamps its echo in
 * its own process).
 */
async function simulatorProcess() {
  const child = spawn(process.execPath, [path.join(root, 'src', 'simulator', 'cli.ts'), '--no-tls'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const endpoint = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')).trim());
    });
    exited.then((code) => reject(new Error(`simulator exited (${code})`)));
  });
  return {
    endpoint,
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Keystroke echo: one key typed until its echo from the remote bash, through the plugin
 * (local pty, binary) and through the codec-only baseline, on two sessions of one
 * simulator at the same time. Keys alternate between the two (who goes first swaps each
 * round), so a change of load, or the simulator warming up, touches both alike; each
 * waits for its echo before the next key, so they never overlap.
 */
async function keystrokeFigures(keystrokes = 500) {
  const simulator = await simulatorProcess();
  const size = { cols: 1000, rows: 50 };
  const loadBefore = loadAverage();
  const plugin = await pluginEchoSession(simulator, size);
  const raw = await rawEchoSession(simulator, size);
  const samples = { plugin: [], raw: [] };
  for (let i = 0; i < keystrokes; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    const order = i % 2 === 0 ? ['plugin', 'raw'] : ['raw', 'plugin'];
    const sessions = { plugin, raw };
    for (const name of order) samples[name].push(await sessions[name].key(key));
    if (i % 50 === 49) {
      await plugin.clear();
      await raw.clear();
    }
  }
  await Promise.all([plugin.close(), raw.close()]);
  await simulator.close();
  const figures = (values) => `${ms(quantile(values, 0.5))} / ${ms(quantile(values, 0.99))}`;
  row(`keystroke echo via simulator (median / p99 of ${keystrokes})`, figures(samples.plugin), 'plugin binary behind a local pty');
  row(`keystroke echo, raw codec client (median / p99 of ${keystrokes})`, figures(samples.raw), 'own process, alternating keys with the plugin');
  const addedP50 = quantile(samples.plugin, 0.5) - quantile(samples.raw, 0.5);
  const addedP99 = quantile(samples.plugin, 0.99) - quantile(samples.raw, 0.99);
  row(
    'keystroke echo: what the plugin adds over the raw codec client (p50 / p99)',
    `${ms(addedP50)} / ${ms(addedP99)}`,
    `target ≤ 0.25 / ≤ 1 ms: ${verdict(addedP50 <= 0.25 && addedP99 <= 1)}; load average before / after ${loadBefore} / ${loadAverage()}`,
  );
}

// `npm run bench [section...]`: every section by default, or only those named.
const PORT_SECTIONS = ['throughput', 'wan', 'rss', 'paced'];
const wanted = process.argv.slice(2);
const runs = (section) => wanted.length === 0 || wanted.includes(section);
process.stderr.write('session-manager-plugin benchmark (single binary, loopback simulator)\n');
if (runs('startup')) {
  versionFigures();
  await execToOpenDataChannel();
}
if (runs('echo')) await keystrokeFigures();
const portSections = PORT_SECTIONS.filter(runs);
if (portSections.length > 0) {
  process.stderr.write('port forwarding (see scripts/bench-port.mjs)\n');
  await benchPort(row, portSections);
}
if (runs('pool')) {
  process.stderr.write('ssm-session: session pool and ssh-proxy (see scripts/bench-pool.mjs)\n');
  await benchPool(row);
}
if (runs('cp')) {
  process.stderr.write('ssm-session cp: ranges over a pool of sessions, against scp (see scripts/bench-cp.mjs)\n');
  await benchCp(row);
}
process.stdout.write(
  '\n| figure | value | target / note |\n|---|---|---|\n' + rows.map(([n, v, x]) => `| ${n} | ${v} | ${x} |`).join('\n') + '\n',
);
