// Our smux (src/smux) against xtaci/smux, the library the SSM agent vendors (v1.5.15 in
// amazon-ssm-agent's go.mod; Debian packages 1.5.16 as golang-github-xtaci-smux-dev), so
// that it is no longer proven only against itself. A small Go peer (test/smux-peer/main.go)
// is built on Debian's package at test time (GOPATH mode) and cached under
// node_modules/.cache; the two talk over a TCP connection on 127.0.0.1, ours in the client
// role and in the server role: streams opened by either side, data both ways with
// SHA-256 checks, FIN and half-close, keep-alive both ways, and many concurrent streams.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CMD_NOP, FrameParser } from '../src/smux/frame.ts';
import { SmuxKeepAliveTimeoutError, SmuxSession, type SmuxKeepAliveOptions } from '../src/smux/session.ts';
import type { SmuxStream } from '../src/smux/stream.ts';
import { findOnPath, ROOT } from './helpers/aws-cli-sandbox.ts';
import type { TestContext } from './helpers/plugin-fixtures.ts';
import { waitFor } from './helpers/wait.ts';

/** Debian's GOPATH, where golang-github-xtaci-smux-dev puts the library. */
const DEBIAN_GOPATH = '/usr/share/gocode';
const SMUX_SOURCE = path.join(DEBIAN_GOPATH, 'src', 'github.com', 'xtaci', 'smux');
const PEER_SOURCE = path.join(ROOT, 'test', 'smux-peer', 'main.go');
const CACHE = path.join(ROOT, 'node_modules', '.cache');
const KiB = 1024;
const MiB = 1024 * KiB;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** The Go peer's byte pattern: SHA-256(seed LE64 || block LE64) for blocks 0, 1, …, cut to n. */
function pattern(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil(n / 32) * 32);
  const input = Buffer.alloc(16);
  input.writeBigUInt64LE(BigInt(seed), 0);
  for (let block = 0; block * 32 < n; block++) {
    input.writeBigUInt64LE(BigInt(block), 8);
    createHash('sha256').update(input).digest().copy(out, block * 32);
  }
  return out.subarray(0, n);
}

let built: string | undefined;

/** Builds the Go peer once (per source and smux version); fails the test when Go or smux is missing. */
function goPeer(t: TestContext): string | undefined {
  if (built) return built;
  const go = findOnPath('go');
  if (!go) return void t.fail('`go` is not on PATH (Debian golang-go; .ci/run installs it)');
  const smuxVersion = path.join(SMUX_SOURCE, 'session.go');
  if (!existsSync(smuxVersion)) return void t.fail(`${SMUX_SOURCE} is missing (Debian golang-github-xtaci-smux-dev; .ci/run installs it)`);
  const key = sha256(Buffer.concat([readFileSync(PEER_SOURCE), readFileSync(smuxVersion), readFileSync(path.join(SMUX_SOURCE, 'stream.go'))])).slice(0, 16);
  const binary = path.join(CACHE, `smux-peer-${key}`);
  if (!existsSync(binary)) {
    mkdirSync(CACHE, { recursive: true });
    const partial = `${binary}.${process.pid}`;
    execFileSync(go, ['build', '-o', partial, PEER_SOURCE], {
      env: { ...process.env, GO111MODULE: 'off', GOPATH: DEBIAN_GOPATH, GOFLAGS: '', GOCACHE: path.join(CACHE, 'go-build') },
      stdio: 'pipe',
    });
    renameSync(partial, binary);
  }
  built = binary;
  return binary;
}

interface Peer {
  session: SmuxSession;
  /** Lines the Go peer printed. */
  lines: string[];
  /** NOP frames received from the Go peer. */
  nops(): number;
  exited(): boolean;
}

/**
 * Our session in `role` over a TCP connection from a Go peer in the other role. `goArgs`
 * go to the peer (keep-alive flags); `keepAlive` to ours (off unless given).
 */
async function connectPeer(
  t: TestContext,
  binary: string,
  role: 'client' | 'server',
  options: { goArgs?: string[]; keepAlive?: SmuxKeepAliveOptions } = {},
): Promise<Peer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const child = spawn(binary, ['-addr', `127.0.0.1:${port}`, '-role', role === 'client' ? 'server' : 'client', ...(options.goArgs ?? [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const [socket] = (await once(server, 'connection')) as [net.Socket];
  server.close();
  socket.setNoDelay(true);
  const session = new SmuxSession({ role, write: (bytes) => socket.write(bytes), keepAlive: options.keepAlive ?? false });
  const parser = new FrameParser();
  let nops = 0;
  socket.on('data', (chunk: Buffer) => {
    parser.push(chunk);
    for (let frame = parser.next(); frame; frame = parser.next()) if (frame.cmd === CMD_NOP) nops++;
    session.input(chunk);
    if (session.receiveFull) socket.pause();
  });
  session.on('receiveDrain', () => socket.resume());
  socket.on('drain', () => session.carrierDrained());
  socket.on('error', () => undefined);
  socket.on('close', () => session.close(new Error('the connection closed')));
  session.on('close', () => socket.destroy());
  t.teardown(() => {
    session.close();
    socket.destroy();
    if (!exited) child.kill('SIGKILL');
  });
  await waitFor(() => lines.includes('ready'), { what: 'the Go peer to be ready', timeoutMs: 10_000, context: () => lines.join('\n') });
  return { session, lines, nops: () => nops, exited: () => exited };
}

function readAll(stream: SmuxStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Opens a stream, sends the command line and `body`, then our FIN; resolves with everything until the peer's FIN. */
async function exchange(session: SmuxSession, line: string, body?: Buffer): Promise<{ reply: Buffer; stream: SmuxStream }> {
  const stream = session.openStream();
  const reply = readAll(stream);
  stream.write(`${line}\n`);
  if (body) stream.write(body);
  stream.end();
  return { reply: await reply, stream };
}

/** Serves streams the Go peer opens: "N SEED\n" + N bytes, which must be pattern(SEED, N); echoes them, then FIN. */
function serveGoStreams(session: SmuxSession, verified: Array<{ id: number; ok: boolean }>): void {
  session.on('stream', (stream: SmuxStream) => {
    let buffered = Buffer.alloc(0);
    let header: { size: number; seed: number } | undefined;
    stream.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!header) {
        const end = buffered.indexOf(10);
        if (end < 0) return;
        const [size, seed] = buffered.subarray(0, end).toString().split(' ').map(Number);
        header = { size: size!, seed: seed! };
        buffered = buffered.subarray(end + 1);
      }
      if (buffered.length < header.size) return;
      verified.push({ id: stream.id, ok: buffered.length === header.size && buffered.equals(pattern(header.seed, header.size)) });
      stream.end(buffered);
    });
  });
}

for (const role of ['client', 'server'] as const) {
  const goRole = role === 'client' ? 'server' : 'client';

  t.test(`ours as ${role}, xtaci/smux as ${goRole}: data both ways, FIN and half-close`, async (t) => {
    const binary = goPeer(t);
    if (!binary) return;
    const { session, lines } = await connectPeer(t, binary, role);

    // Upload, then our FIN: the peer sees the end of the stream and can still answer on it.
    const upload = randomBytes(3 * MiB + 777);
    const sink = await exchange(session, 'sink', upload);
    t.equal(sink.reply.toString(), `${sha256(upload)} ${upload.length}\n`, 'the peer read every byte (SHA-256, count) up to our FIN');
    t.ok(sink.stream.finReceived, "we read its answer after our FIN (half-close), then its FIN ended our stream");
    t.equal(sink.stream.id % 2, role === 'client' ? 1 : 0, `our stream ids are ${role === 'client' ? 'odd' : 'even'}`);

    // Download: frames the peer cut at its 32 KiB MaxFrameSize, ended by its FIN.
    const source = await exchange(session, `source ${5 * MiB + 3} 7`);
    t.equal(source.reply.length, 5 * MiB + 3, 'the whole download');
    t.equal(sha256(source.reply), sha256(pattern(7, 5 * MiB + 3)), "the download's SHA-256");

    // Both directions at once on one stream.
    const both = randomBytes(2 * MiB + 5);
    const echo = await exchange(session, 'echo', both);
    t.equal(sha256(echo.reply), sha256(both), 'echoed byte for byte while still sending');
    t.equal(session.streams, 0, 'every stream is gone on our side once both FINs crossed');
    t.same(lines.filter((line) => line.startsWith('error')), [], 'the peer reported no error');
  });

  t.test(`ours as ${role}, xtaci/smux as ${goRole}: 48 concurrent streams opened by each side`, async (t) => {
    const binary = goPeer(t);
    if (!binary) return;
    const { session, lines } = await connectPeer(t, binary, role);
    const verified: Array<{ id: number; ok: boolean }> = [];
    serveGoStreams(session, verified);

    const ours = Array.from({ length: 48 }, (_, i) => {
      const body = randomBytes(1 + ((i * 104_729) % (256 * KiB)));
      return i % 2 === 0
        ? exchange(session, 'sink', body).then(({ reply }) => reply.toString() === `${sha256(body)} ${body.length}\n`)
        : exchange(session, 'echo', body).then(({ reply }) => reply.equals(body));
    });
    const theirs = exchange(session, 'open 48 262144');
    const results = await Promise.all(ours);
    t.equal(results.filter(Boolean).length, 48, 'our 48 streams (sink and echo) all came back intact');
    t.equal((await theirs).reply.toString(), 'opened 48\n', 'the peer opened 48 streams');
    t.equal(verified.length, 48, 'we received all 48');
    t.ok(verified.every((v) => v.ok), 'each carried exactly its pattern');
    t.ok(verified.every((v) => v.id % 2 === (goRole === 'client' ? 1 : 0)), `their ids are ${goRole === 'client' ? 'odd' : 'even'}`);
    // Its verdicts come on its stdout, which may trail the stream's answer.
    const goVerdicts = await waitFor(() => lines.filter((line) => line.startsWith('verified')).length === 48 && lines.filter((line) => line.startsWith('verified')), {
      what: "the peer's 48 verdicts",
      timeoutMs: 10_000,
      context: () => lines.join('\n'),
    });
    t.equal(goVerdicts.length, 48, 'the peer checked 48 echoes');
    t.ok(goVerdicts.every((line) => line.endsWith(' ok')), 'every echo matched at the peer');
  });

  t.test(`ours as ${role}, xtaci/smux as ${goRole}: keep-alive both ways`, async (t) => {
    const binary = goPeer(t);
    if (!binary) return;
    const fast = ['-keepalive-interval-ms', '50', '-keepalive-timeout-ms', '300'];
    const keepAlive = { intervalMs: 50, timeoutMs: 300 };

    // Both send NOPs: idle for many of the peer's timeout windows, and nobody closes.
    const idle = await connectPeer(t, binary, role, { goArgs: fast, keepAlive });
    await waitFor(() => idle.nops() >= 20, {
      what: "20 of the peer's NOPs (3 of its 300 ms windows)",
      timeoutMs: 10_000,
      context: () => `${idle.nops()} NOPs; closed: ${idle.session.closed} ${idle.session.error?.message}; peer: ${idle.lines.join(' | ')}`,
    });
    t.notOk(idle.session.closed, 'our session is open: the NOPs count as traffic');
    t.notOk(idle.lines.includes('closed'), 'the peer kept its session: our NOPs count as traffic to it');
    const alive = randomBytes(64 * KiB);
    t.ok((await exchange(idle.session, 'echo', alive)).reply.equals(alive), 'and the session still carries data');

    // We send nothing: the peer's keep-alive closes the session, and we see the connection go.
    const silentUs = await connectPeer(t, binary, role, { goArgs: fast });
    await waitFor(() => silentUs.lines.includes('closed') && silentUs.session.closed, { what: 'the peer to time out on our silence', timeoutMs: 10_000 });
    t.pass('the peer closed the session after its keep-alive timeout; ours closed with the connection');

    // The peer sends nothing: our keep-alive closes the session.
    const silentPeer = await connectPeer(t, binary, role, { goArgs: ['-no-keepalive'], keepAlive });
    await waitFor(() => silentPeer.session.closed, { what: 'our keep-alive timeout', timeoutMs: 10_000 });
    t.type(silentPeer.session.error, SmuxKeepAliveTimeoutError, 'ours closed with SmuxKeepAliveTimeoutError');
    await waitFor(() => silentPeer.lines.includes('closed'), { what: 'the peer to see the connection go', timeoutMs: 10_000 });
  });
}
