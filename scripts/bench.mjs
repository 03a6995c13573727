// `npm run bench`: start-up, memory and interactive latency figures of the single binary,
// against the built-in simulator. Prints a table; asserts nothing (targets live in the
// closing notes and README, not in timed tests).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import pty from 'node-pty';
import { startSimulator } from '../src/simulator/index.ts';
import { throwawayTls } from '../src/simulator/tls.ts';
import { benchPort } from './bench-port.mjs';
import { RawClient } from '../test/helpers/sim-raw-client.ts';
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
 * From exec of the binary to the OpenDataChannel text arriving at a WebSocket server, over
 * ws:// and over wss:// as real sessions are (TLS adds loading the trust store and the handshake).
 */
async function execToOpenDataChannel() {
  const tls = throwawayTls();
  const servers = {
    ws: http.createServer(),
    wss: https.createServer({ key: tls.key, cert: tls.cert }),
  };
  const nodeMs = nodeStartup();
  for (const [scheme, server] of Object.entries(servers)) {
    const wss = new WebSocketServer({ server });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `${scheme}://127.0.0.1:${server.address().port}/v1/data-channel/bench?role=publish_subscribe`;
    const samples = [];
    for (let i = 0; i < 20; i++) {
      const arrived = new Promise((resolve) => wss.once('connection', (ws) => ws.once('message', () => resolve(performance.now()))));
      const start = performance.now();
      const child = spawn(binary, ['AWS_SSM_START_SESSION_RESPONSE', 'us-east-1', 'StartSession', '', '{"Target":"i-0"}', 'http://127.0.0.1:9'], {
        // NODE_EXTRA_CA_CERTS, not AWS_CA_BUNDLE: Node's default trust (bundled roots and
        // the OS store) stays in use, as for a user without a bundle.
        env: { ...env, NODE_EXTRA_CA_CERTS: tls.caFile, AWS_SSM_START_SESSION_RESPONSE: JSON.stringify({ SessionId: 'bench', TokenValue: 'bench-token', StreamUrl: url }) },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      samples.push((await arrived) - start);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    wss.close();
    server.close();
    const median = quantile(samples, 0.5);
    row(
      `exec to OpenDataChannel, ${scheme}:// (median / p90 of 20)`,
      `${ms(median)} / ${ms(quantile(samples, 0.9))}`,
      `target ≤ 50 ms: ${verdict(median <= 50)}; Node's own start-up (node -e 0) here: ${ms(nodeMs)}, so ${ms(median - nodeMs)} is ours`,
    );
  }
}

/** Keystroke echo: one key typed in the plugin's terminal until its echo from the remote bash. */
async function keystrokeEcho(keystrokes = 200) {
  const simulator = await startSimulator({});
  const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient({ region: 'us-east-1', endpoint: simulator.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'bench' } });
  const response = await ssm.send(new StartSessionCommand({ Target: 'i-0123456789abcdef0' }));
  ssm.destroy();
  const term = pty.spawn(binary, ['AWS_SSM_START_SESSION_RESPONSE', 'us-east-1', 'StartSession', '', '{"Target":"i-0123456789abcdef0"}', simulator.endpoint], {
    cols: 1000,
    rows: 50,
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
      setTimeout(() => reject(new Error(`timed out waiting for ${JSON.stringify(text)}; screen: ${screen.slice(-300)}`)), 10_000).unref();
    });
  await waitFor('$ ');
  const samples = [];
  for (let i = 0; i < keystrokes; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    const from = screen.length;
    const echoed = waitFor(key, from);
    const start = performance.now();
    term.write(key);
    samples.push((await echoed) - start);
    if (i % 50 === 49) {
      const cleared = waitFor('$ ', screen.length);
      term.write('\x15\r'); // clear the line, new prompt
      await cleared;
    }
  }
  const exited = new Promise((resolve) => term.onExit(resolve));
  term.write('\x15exit\r');
  await exited;
  await simulator.close();
  row(`keystroke echo via simulator (median / p99 of ${keystrokes})`, `${ms(quantile(samples, 0.5))} / ${ms(quantile(samples, 0.99))}`);
  return samples;
}

/**
 * The same keystrokes from a client written from the codec alone (no plugin, no local
 * terminal) on the same kind of simulator session and remote pty: what the plugin adds
 * is the difference.
 */
async function rawKeystrokeEcho(keystrokes = 200) {
  const simulator = await startSimulator({});
  const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient({ region: 'us-east-1', endpoint: simulator.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'bench' } });
  const response = await ssm.send(new StartSessionCommand({ Target: 'i-0123456789abcdef0' }));
  ssm.destroy();
  const client = await RawClient.open(response.StreamUrl, response.TokenValue, {
    sessionId: response.SessionId,
    target: 'i-0123456789abcdef0',
    endpoint: simulator.endpoint,
    clientId: 'c0ffee00-0000-4000-8000-0000000000be',
    timeoutMs: 10_000,
  });
  await client.untilText(/\$ $/);
  const samples = [];
  let waiter;
  client.onPayload = (payload) => {
    if (waiter && payload.payloadType === 1 && payload.data?.toString('latin1').includes(waiter.key)) {
      const done = waiter.resolve;
      waiter = undefined;
      done(performance.now());
    }
  };
  for (let i = 0; i < keystrokes; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    const echoed = new Promise((resolve) => (waiter = { key, resolve }));
    const start = performance.now();
    client.input(key);
    samples.push((await echoed) - start);
    if (i % 50 === 49) {
      const before = client.text(1).length;
      client.input('\x15\r');
      await client.until(() => client.text(1).length > before && /\$ $/.test(client.text(1)), 'the prompt');
    }
  }
  client.close();
  await simulator.close();
  row(`keystroke echo, raw codec client (median / p99 of ${keystrokes})`, `${ms(quantile(samples, 0.5))} / ${ms(quantile(samples, 0.99))}`);
  return samples;
}

async function keystrokeFigures() {
  const plugin = await keystrokeEcho();
  const raw = await rawKeystrokeEcho();
  const addedP50 = quantile(plugin, 0.5) - quantile(raw, 0.5);
  const addedP99 = quantile(plugin, 0.99) - quantile(raw, 0.99);
  row(
    'keystroke echo: what the plugin adds over the raw codec client (p50 / p99)',
    `${ms(addedP50)} / ${ms(addedP99)}`,
    `target ≤ 0.25 / ≤ 1 ms: ${verdict(addedP50 <= 0.25 && addedP99 <= 1)}`,
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
