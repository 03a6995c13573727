// Port-forwarding figures of the single binary against the built-in simulator: throughput
// (basic and mux, each direction and both, 8 connections), plugin and simulator CPU per
// 100 MiB, peak RSS with fast and slow local readers, the ratio to a raw `ws` transfer of
// the same frames on loopback and to a raw codec client through the same simulator, and
// with the agent's pacing on, how close we get to its own limit.
//
//   export async function benchPort(row)   row(name, value, note) prints one figure
//   node scripts/bench-port.mjs [throughput] [rss] [paced]   runs alone and prints a table
//
// Asserts nothing; the targets (≥ 40 MB/s each way in mux with pacing off, RSS < 80 MiB,
// paced download within 5 % of the agent's limit) are shown next to the figures.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { startSimulator } from '../src/simulator/index.ts';
import { encodeFrame, decodeFrame } from '../src/protocol/frame.ts';
import { decodeHandshakeRequest } from '../src/protocol/payloads.ts';
import { newUuid } from '../src/protocol/uuid.ts';
import { encodeAcknowledgeFrame } from '../src/protocol/control-frames.ts';
import { createSandbox, PLUGIN_BINARY } from '../test/helpers/aws-cli-sandbox.ts';
import { portRequest, sdkStartSession, startPlugin } from '../test/helpers/port-session.ts';
import { expectedDigest, HEADER_BYTES, startDestination, transfer } from '../test/helpers/port-traffic.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;
const CLOCK_TICKS = 100; // USER_HZ on Linux
const BASIC_AGENT = '3.0.196.0';
const FORWARD = 'AWS-StartPortForwardingSession';

const mbps = (bytes, ms) => (bytes / 1e6 / (ms / 1000)).toFixed(1);
const mib = (kib) => (kib / 1024).toFixed(1);

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function statusKiB(pid, key) {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return match ? Number(match[1]) : NaN;
}

/**
 * Polls the plugin's memory while `work` runs. VmHWM is the peak RSS; about 60 MiB of it
 * are file-backed pages of the 124 MB single binary (shared, clean, reclaimable), so the
 * peak of RssAnon (the process's private memory) is reported beside it.
 */
async function withRssWatch(pid, work) {
  let anon = 0;
  const poll = () => {
    try {
      anon = Math.max(anon, statusKiB(pid, 'RssAnon'));
    } catch {
      // exited
    }
  };
  const timer = setInterval(poll, 10);
  try {
    const result = await work();
    poll();
    return { result, peakKiB: statusKiB(pid, 'VmHWM'), anonKiB: anon };
  } finally {
    clearInterval(timer);
  }
}

/** One simulator + destination + plugin session; `fn` gets the forwarded port and the plugin pid. */
async function withSession(simOptions, fn, { destination = startDestination } = {}) {
  const sim = await startSimulator({ frameLogLimit: 0, ...simOptions });
  const dest = await destination();
  const sandbox = createSandbox();
  const request = portRequest(FORWARD, { portNumber: String(dest.port), localPortNumber: '0' });
  const response = await sdkStartSession(sim, request);
  // BENCH_PLUGIN_LOG=file: the plugin's debug log (window and path estimates among others).
  const extraEnv = process.env.BENCH_PLUGIN_LOG ? { SESSION_MANAGER_PLUGIN_LOG: process.env.BENCH_PLUGIN_LOG } : {};
  const plugin = startPlugin(sandbox, sim, request, response, { timeoutMs: 300_000, extraEnv });
  try {
    const port = Number((await plugin.waitStdout(/Port (\d+) opened/, 'the forwarded port', 20_000))[1]);
    return await fn({ port, pid: plugin.pid, dest, sim, sessionId: response.SessionId });
  } finally {
    plugin.child.kill('SIGTERM');
    await plugin.exit;
    await dest.close();
    await sim.close();
    sandbox.remove();
  }
}

/**
 * Runs transfers at once through the port; returns wall ms, bytes moved, the plugin's CPU s
 * and this process's: the simulator, the destination and the local application (generating
 * and hashing its bytes). A worker thread for the application was tried: on 2 cores a
 * third busy thread cost more throughput than it took off the simulator's.
 */
async function measured(port, pid, specs) {
  const cpu0 = cpuSeconds(pid);
  const here0 = process.cpuUsage();
  const start = performance.now();
  const results = await Promise.all(specs.map((spec) => transfer({ port }, { timeoutMs: 240_000, ...spec }).done));
  const ms = performance.now() - start;
  const cpu = cpuSeconds(pid) - cpu0;
  const here = process.cpuUsage(here0);
  return summary(specs, results, ms, cpu, (here.user + here.system) / 1e6);
}

function summary(specs, results, ms, cpu, simCpu) {
  for (const r of results) {
    if (r.echoedUploadDigest !== r.uploadDigest || r.extraBytes !== 0) throw new Error('bench transfer was corrupted');
  }
  const up = specs.reduce((n, s) => n + s.upload, 0);
  const down = specs.reduce((n, s) => n + s.download, 0);
  const firstByteMs = Math.min(...results.map((r) => r.firstByteMs));
  return { ms, up, down, cpu, simCpu, firstByteMs };
}

const perHundredMiB = (cpu, bytes) => `${((cpu * 100 * MiB) / bytes).toFixed(2)} CPU s / 100 MiB`;

// ---------------------------------------------------------------------------------------
// Raw ws on loopback: the same 1144-byte frames (1 KiB payload), one process to another,
// no acknowledgements, no digests checked. The ceiling a WebSocket client can reach here.

const RAW_CHILD = `
import WebSocket from 'ws';
const [url, mode, total, size] = process.argv.slice(1);
const ws = new WebSocket(url, { perMessageDeflate: false });
ws.on('open', () => {
  if (mode === 'down') {
    let got = 0;
    ws.on('message', (data) => { got += data.length; if (got >= Number(total)) { ws.send('done'); } });
    ws.send('go');
    return;
  }
  const frame = Buffer.alloc(Number(size), 7);
  let sent = 0;
  const pump = () => {
    while (sent < Number(total)) {
      ws.send(frame);
      sent += frame.length;
      if (ws.bufferedAmount > 4 * 1024 * 1024) return void setImmediate(wait);
    }
  };
  const wait = () => (ws.bufferedAmount > 1024 * 1024 ? setImmediate(wait) : pump());
  pump();
});
ws.on('message', (m) => { if (String(m) === 'bye') ws.close(); });
`;

async function rawWs(direction, payloadBytes) {
  const frameSize = 120 + 1024;
  const frames = Math.ceil(payloadBytes / 1024);
  const total = frames * frameSize;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', RAW_CHILD, url, direction, String(total), String(frameSize)], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const ws = await new Promise((resolve) => wss.once('connection', resolve));
  const start = performance.now();
  let ms;
  if (direction === 'down') {
    await new Promise((resolve) => ws.once('message', resolve)); // 'go'
    const t0 = performance.now();
    const frame = Buffer.alloc(frameSize, 7);
    const done = new Promise((resolve) => ws.once('message', resolve)); // 'done'
    let sent = 0;
    await new Promise((resolve) => {
      const pump = () => {
        while (sent < total) {
          ws.send(frame);
          sent += frameSize;
          if (ws.bufferedAmount > 4 * MiB) return void setImmediate(wait);
        }
        resolve();
      };
      const wait = () => (ws.bufferedAmount > MiB ? setImmediate(wait) : pump());
      pump();
    });
    await done;
    ms = performance.now() - t0;
  } else {
    let got = 0;
    await new Promise((resolve) =>
      ws.on('message', (data) => {
        got += data.length;
        if (got >= total) resolve();
      }),
    );
    ms = performance.now() - start;
  }
  ws.send('bye');
  await new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve) => wss.close(resolve));
  return { ms, payload: frames * 1024 };
}

// ---------------------------------------------------------------------------------------
// The simulator's own ceiling for a mux upload: the same session, destination and digest
// check, but a client process that only sends frames (bench-raw-codec-client.mjs).

async function rawCodecUpload(bytes) {
  const seed = 5;
  const sim = await startSimulator({ frameLogLimit: 0, pacing: false });
  const dest = await startDestination();
  try {
    const request = portRequest(FORWARD, { portNumber: String(dest.port), localPortNumber: '0' });
    const response = await sdkStartSession(sim, request);
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'bench-raw-codec-client.mjs'), response.StreamUrl, response.TokenValue, String(bytes), String(seed)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise((resolve, reject) => {
        child.stdout.on('data', (chunk) => String(chunk).includes('sending') && resolve());
        child.once('exit', (code) => reject(new Error(`the raw codec client exited (${code})`)));
      });
      const here0 = process.cpuUsage();
      const start = performance.now();
      await new Promise((resolve, reject) => {
        const poll = setInterval(() => {
          const record = dest.records[0];
          if (record?.error) reject(new Error(record.error));
          if (record?.uploadDigest === undefined) return;
          clearInterval(poll);
          resolve();
        }, 1);
      });
      const ms = performance.now() - start;
      const here = process.cpuUsage(here0);
      if (dest.records[0].uploadDigest !== expectedDigest(seed, 'up', bytes)) throw new Error('raw codec upload was corrupted');
      return { ms, simCpu: (here.user + here.system) / 1e6 };
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  } finally {
    await dest.close();
    await sim.close();
  }
}

// ---------------------------------------------------------------------------------------
// The agent's own pacing limit: the simulator's agent (pacing on) sending a basic-mode
// download to a raw codec client that acknowledges every frame at once.

async function agentPacingLimit(bytes) {
  const sim = await startSimulator({ frameLogLimit: 0, pacing: true });
  const dest = await startDestination();
  try {
    const request = portRequest(FORWARD, { portNumber: String(dest.port), localPortNumber: '0' });
    const response = await sdkStartSession(sim, request);
    const ws = new WebSocket(response.StreamUrl, { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    let seq = 0;
    const send = (payloadType, payload) =>
      ws.send(
        encodeFrame({
          messageType: 'input_stream_data',
          schemaVersion: 1,
          createdDate: Date.now(),
          sequenceNumber: seq++,
          flags: 0,
          messageId: newUuid(),
          payloadType,
          payload,
        }),
      );
    let received = 0;
    let firstAt = 0;
    let resolveDone;
    const done = new Promise((resolve) => (resolveDone = resolve));
    let resolveReady;
    const ready = new Promise((resolve) => (resolveReady = resolve));
    const seen = new Set();
    ws.on('message', (data) => {
      const frame = decodeFrame(data, { verifyDigest: false });
      if (frame.messageType !== 'output_stream_data') return;
      ws.send(
        encodeAcknowledgeFrame(frame),
      );
      if (seen.has(frame.sequenceNumber)) return;
      seen.add(frame.sequenceNumber);
      if (frame.payloadType === 5) {
        const hs = decodeHandshakeRequest(frame.payload);
        // ClientVersion below 1.1.70: the agent uses basic mode, raw bytes in Output.
        const answer = {
          ClientVersion: '1.1.61.0',
          ProcessedClientActions: (hs?.RequestedClientActions ?? []).map((a) => ({ ActionType: a.ActionType, ActionStatus: 1, ActionResult: null, Error: '' })),
          Errors: [],
        };
        send(6, Buffer.from(JSON.stringify(answer)));
      } else if (frame.payloadType === 7) {
        resolveReady();
      } else if (frame.payloadType === 1) {
        if (firstAt === 0) firstAt = performance.now();
        received += frame.payload.length;
        if (received >= bytes + 32) resolveDone(performance.now());
      }
    });
    ws.send(
      JSON.stringify({ MessageSchemaVersion: '1.0', RequestId: newUuid(), TokenValue: response.TokenValue, ClientId: newUuid(), ClientVersion: '1.1.61.0' }),
    );
    await ready;
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(99, 0);
    header.writeUInt32LE(0, 4);
    header.writeUInt32LE(bytes, 8);
    const start = performance.now();
    send(1, header);
    const end = await done;
    ws.terminate();
    return { ms: end - start, streamMs: end - firstAt };
  } finally {
    await dest.close();
    await sim.close();
  }
}

// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Real networks: the simulator's gateway adds one-way latency (and jitter) per direction.

/**
 * A destination for the WAN figures: a connection that starts with `ECHO` echoes every
 * byte after it; any other speaks port-traffic's upload convention (16-byte header, the
 * upload, then the SHA-256 of what arrived), for uploads only.
 */
async function startEchoOrSinkDestination() {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let hash;
    let remaining = 0;
    socket.on('data', function onData(data) {
      if (!hash) {
        head = Buffer.concat([head, data]);
        if (head.length >= 4 && head.subarray(0, 4).toString('latin1') === 'ECHO') {
          socket.off('data', onData);
          if (head.length > 4) socket.write(head.subarray(4));
          socket.pipe(socket);
          return;
        }
        if (head.length < HEADER_BYTES) return;
        remaining = head.readUInt32LE(4);
        hash = createHash('sha256');
        data = head.subarray(HEADER_BYTES);
      }
      const take = data.subarray(0, remaining);
      hash.update(take);
      remaining -= take.length;
      if (remaining === 0 && take.length > 0 || (remaining === 0 && data.length === 0)) socket.write(hash.digest());
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }) };
}

/** 1-byte round trips through an ECHO connection until `until` settles; the samples in ms. */
async function echoRoundTrips(port, until) {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write('ECHO');
  const samples = [];
  let stop = false;
  until.finally(() => (stop = true));
  while (!stop) {
    const start = performance.now();
    const echoed = new Promise((resolve) => socket.once('data', resolve));
    socket.write('k');
    await echoed;
    samples.push(performance.now() - start);
  }
  socket.destroy();
  return samples;
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const verdict = (ok) => (ok ? 'PASS' : 'MISS');

/** Upload through a mux port at WAN round trips, and interactive round trips beside a bulk upload. */
async function wanFigures(row) {
  const UPLOAD = 64 * MiB;
  const cases = [
    { rttMs: 100, targetMBs: 25 },
    { rttMs: 200, targetMBs: 15 },
  ];
  for (const c of cases) {
    const half = c.rttMs / 2;
    const link = { toAgent: { latencyMs: half }, toClient: { latencyMs: half } };
    await withSession({ pacing: false, link }, async ({ port, pid, sim }) => {
      const up = await measured(port, pid, [{ seed: 60, upload: UPLOAD, download: 0 }]);
      const mbs = up.up / 1e6 / (up.ms / 1000);
      row(
        `mux: upload 64 MiB at ${c.rttMs} ms RTT`,
        `${mbs.toFixed(1)} MB/s`,
        `target ≥ ${c.targetMBs} MB/s: ${verdict(mbs >= c.targetMBs)}; ${perHundredMiB(up.cpu, up.up)}`,
      );
    }, { destination: startEchoOrSinkDestination });
  }
  for (const rttMs of [0, 100]) {
    const link = rttMs > 0 ? { toAgent: { latencyMs: rttMs / 2 }, toClient: { latencyMs: rttMs / 2 } } : undefined;
    await withSession({ pacing: false, ...(link ? { link } : {}) }, async ({ port, pid }) => {
      const bulk = measured(port, pid, [{ seed: 61, upload: UPLOAD, download: 0 }]);
      // Let the bulk stream fill the window before measuring.
      await new Promise((resolve) => setTimeout(resolve, Math.max(200, 3 * rttMs)));
      const samples = await echoRoundTrips(port, bulk);
      await bulk;
      const p50 = quantile(samples, 0.5);
      const p99 = quantile(samples, 0.99);
      const target = 2 * rttMs + 20;
      row(
        `mux: 1-byte round trips in a 2nd stream during a 64 MiB upload, ${rttMs ? `${rttMs} ms RTT` : 'loopback'} (p50 / p99 of ${samples.length})`,
        `${p50.toFixed(1)} / ${p99.toFixed(1)} ms`,
        `target p99 ≤ 2 × RTT + 20 ms = ${target} ms: ${verdict(p99 <= target)}`,
      );
    }, { destination: startEchoOrSinkDestination });
  }
}

/** Every section by default; `sections` may name a subset: throughput, wan, rss, paced. */
export async function benchPort(row, sections = ['throughput', 'wan', 'rss', 'paced']) {
  if (!existsSync(PLUGIN_BINARY)) throw new Error('dist/session-manager-plugin is missing; run `npm run build` first');
  if (sections.includes('throughput')) await throughputFigures(row);
  if (sections.includes('wan')) await wanFigures(row);
  if (sections.includes('rss')) await rssFigures(row);
  if (sections.includes('paced')) await pacedFigures(row);
}

async function throughputFigures(row) {
  const THROUGHPUT = 64 * MiB;

  // Ceiling: raw ws, same frames, loopback, across processes.
  const rawDown = await rawWs('down', THROUGHPUT);
  const rawUp = await rawWs('up', THROUGHPUT);
  const rawDownMBs = THROUGHPUT / 1e6 / (rawDown.ms / 1000);
  const rawUpMBs = THROUGHPUT / 1e6 / (rawUp.ms / 1000);
  row('raw ws, 1 KiB-payload frames, loopback: to client / from client', `${rawDownMBs.toFixed(1)} / ${rawUpMBs.toFixed(1)} MB/s`, 'payload bytes, no acks, no digests');
  // The same frames through the simulator: what the simulator, the destination and this
  // process's hashing leave for any client (the raw ws row has none of that work).
  const codec = await rawCodecUpload(THROUGHPUT);
  const codecUpMBs = THROUGHPUT / 1e6 / (codec.ms / 1000);
  row('raw codec client through the simulator: mux upload', `${codecUpMBs.toFixed(1)} MB/s`, `a process that only sends frames (its bytes made beforehand); simulator and destination ${perHundredMiB(codec.simCpu, THROUGHPUT)}`);

  const ratio = (mbs, raw) => `${((mbs / raw) * 100).toFixed(0)} % of raw ws`;

  // Pacing off: our ceiling.
  for (const mode of ['basic', 'mux']) {
    const simOptions = { pacing: false, ...(mode === 'basic' ? { agentVersion: BASIC_AGENT } : {}) };
    await withSession(simOptions, async ({ port, pid }) => {
      const up = await measured(port, pid, [{ seed: 1, upload: THROUGHPUT, download: 0 }]);
      const upMBs = up.up / 1e6 / (up.ms / 1000);
      const upCpu = (up.cpu * 100 * MiB) / up.up;
      row(
        `${mode}: upload (pacing off)`,
        `${upMBs.toFixed(1)} MB/s`,
        mode === 'mux'
          ? `${ratio(upMBs, rawUpMBs)} (target ≥ 90 %: ${verdict(upMBs >= 0.9 * rawUpMBs)}), ${((upMBs / codecUpMBs) * 100).toFixed(0)} % of the raw codec client; ${perHundredMiB(up.cpu, up.up)} (target < 4.1: ${verdict(upCpu < 4.1)}); simulator, destination and local application ${perHundredMiB(up.simCpu, up.up)}`
          : `${ratio(upMBs, rawUpMBs)}; ${perHundredMiB(up.cpu, up.up)}`,
      );
      const down = await measured(port, pid, [{ seed: 2, upload: 0, download: THROUGHPUT }]);
      const downMBs = down.down / 1e6 / (down.ms / 1000);
      const downCpu = (down.cpu * 100 * MiB) / down.down;
      row(
        `${mode}: download (pacing off)`,
        `${downMBs.toFixed(1)} MB/s`,
        `${ratio(downMBs, rawDownMBs)}; ${perHundredMiB(down.cpu, down.down)}${mode === 'mux' ? ` (target < 2.7: ${verdict(downCpu < 2.7)}); target ≥ 40 MB/s` : ''}`,
      );
      if (mode !== 'mux') return;
      const both = await measured(port, pid, [{ seed: 3, upload: THROUGHPUT, download: THROUGHPUT }]);
      const bothUp = both.up / 1e6 / (both.ms / 1000);
      const bothDown = both.down / 1e6 / (both.ms / 1000);
      row(
        'mux: both directions at once (pacing off)',
        `${bothUp.toFixed(1)} up + ${bothDown.toFixed(1)} down MB/s`,
        `${ratio(bothUp, rawUpMBs)} / ${ratio(bothDown, rawDownMBs)}; ${perHundredMiB(both.cpu, both.up + both.down)}; target ≥ 40 MB/s each way`,
      );
      const eightDown = await measured(port, pid, Array.from({ length: 8 }, (_, i) => ({ seed: 10 + i, upload: 0, download: 16 * MiB })));
      row('mux: 8 connections, download aggregate', `${mbps(eightDown.down, eightDown.ms)} MB/s`, perHundredMiB(eightDown.cpu, eightDown.down));
      const eightUp = await measured(port, pid, Array.from({ length: 8 }, (_, i) => ({ seed: 20 + i, upload: 16 * MiB, download: 0 })));
      row('mux: 8 connections, upload aggregate', `${mbps(eightUp.up, eightUp.ms)} MB/s`, perHundredMiB(eightUp.cpu, eightUp.up));
    });
  }

}

/** Peak RSS of the plugin during 256 MiB transfers, with fast and slow local readers. */
async function rssFigures(row) {
  const BIG = 256 * MiB;
  const rssCases = [
    { name: 'mux: 64 MiB each way at once', mode: 'mux', spec: { upload: 64 * MiB, download: 64 * MiB }, issue: true },
    { name: 'mux: 256 MiB download, fast reader', mode: 'mux', spec: { upload: 0, download: BIG } },
    { name: 'mux: 256 MiB upload', mode: 'mux', spec: { upload: BIG, download: 0 } },
    { name: 'mux: 256 MiB download, reader at 20 MB/s', mode: 'mux', spec: { upload: 0, download: BIG, readBytesPerSecond: 20e6 } },
    { name: 'basic: 256 MiB download, reader at 20 MB/s', mode: 'basic', spec: { upload: 0, download: BIG, readBytesPerSecond: 20e6 } },
  ];
  for (const c of rssCases) {
    const simOptions = { pacing: false, ...(c.mode === 'basic' ? { agentVersion: BASIC_AGENT } : {}) };
    await withSession(simOptions, async ({ port, pid }) => {
      const idle = statusKiB(pid, 'VmRSS');
      const idleAnon = statusKiB(pid, 'RssAnon');
      const { result, peakKiB, anonKiB } = await withRssWatch(pid, () => measured(port, pid, [{ seed: 40, ...c.spec }]));
      const bytes = result.up + result.down;
      const target = c.issue
        ? `target ≤ 55 MiB total, ≤ 20 MiB anon: ${verdict(peakKiB <= 55 * 1024 && anonKiB <= 20 * 1024)}`
        : 'target < 80 MiB';
      row(
        `peak RSS, ${c.name}`,
        `${mib(peakKiB)} MiB (anon ${mib(anonKiB)} MiB)`,
        `idle ${mib(idle)} MiB (anon ${mib(idleAnon)}); ${mbps(bytes, result.ms)} MB/s; ${target}`,
      );
    });
  }

}

/**
 * Pacing on (the real agent's 1 ms per 1 KiB read): download against the agent's limit,
 * measured right before and after each plugin run (timer resolution varies with load).
 */
async function pacedFigures(row) {
  const PACED = 4 * MiB;
  // Rates from the first downloaded byte to the last: the set-up before it (local accept,
  // smux SYN, the header's way to the destination) is not what the pacing limits.
  const limitMBs = async () => (PACED + 32) / 1e6 / ((await agentPacingLimit(PACED)).streamMs / 1000);
  for (const mode of ['basic', 'mux']) {
    const simOptions = { pacing: true, ...(mode === 'basic' ? { agentVersion: BASIC_AGENT } : {}) };
    const before = await limitMBs();
    let downMBs = 0;
    await withSession(simOptions, async ({ port, pid }) => {
      const down = await measured(port, pid, [{ seed: 50, upload: 0, download: PACED }]);
      downMBs = (PACED + 32) / 1e6 / ((down.ms - down.firstByteMs) / 1000);
      const up = await measured(port, pid, [{ seed: 51, upload: 32 * MiB, download: 0 }]);
      row(`${mode}: upload, pacing on`, `${mbps(up.up, up.ms)} MB/s`, 'the agent paces only its reads; target far above 1 MB/s');
    });
    const after = await limitMBs();
    const limit = (before + after) / 2;
    row(`${mode}: agent's paced limit (raw codec client acking at once)`, `${limit.toFixed(3)} MB/s`, `${before.toFixed(3)} before, ${after.toFixed(3)} after; ${PACED / MiB} MiB`);
    row(`${mode}: download, pacing on`, `${downMBs.toFixed(3)} MB/s`, `${((downMBs / limit) * 100).toFixed(1)} % of the agent's limit (target ≥ 95 %: ${verdict(downMBs >= 0.95 * limit)})`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const rows = [];
  const row = (name, value, note = '') => {
    rows.push([name, value, note]);
    process.stderr.write(`  ${name}: ${value}${note ? `  (${note})` : ''}\n`);
  };
  process.stderr.write('session-manager-plugin port-forwarding benchmark (single binary, loopback simulator)\n');
  const wanted = process.argv.slice(2);
  await benchPort(row, wanted.length > 0 ? wanted : undefined);
  process.stdout.write('\n| figure | value | note |\n|---|---|---|\n' + rows.map(([n, v, x]) => `| ${n} | ${v} | ${x} |`).join('\n') + '\n');
}
