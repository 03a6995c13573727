// `ssm-session forward` end to end, the CLI as a real process (from source) against the
// simulator: several -L at once (target itself, a host behind it, IPv6 on both sides)
// with checksums both ways, -D with the real curl, a session killed under a live
// listener, the status line in a terminal and with --stats, a clean exit on signals.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.ts';
import { createSandbox, findOnPath } from './helpers/aws-cli-sandbox.ts';
import { tcpTransfer, transferIntact, type CheckedTransfer } from './helpers/client-traffic.ts';
import { startPty } from './helpers/processes.ts';
import type { PluginProcess } from './helpers/port-session.ts';
import { startDestination, type Destination } from './helpers/port-traffic.ts';
import { cliCommand, cliEnv, sha256, startCli, startedSessions, unusedPort, type TestContext } from './helpers/ssm-session-cli.ts';
import { printable, waitFor } from './helpers/wait.ts';

const TARGET = 'i-0123456789abcdef0';
const MiB = 1024 * 1024;
const CURL = findOnPath('curl');

async function setup(t: TestContext, options: SimulatorOptions = {}): Promise<{ sim: Simulator; env: NodeJS.ProcessEnv; dest: Destination }> {
  const sim = await startSimulator({ pacing: false, frameLogLimit: 0, tls: true, ...options });
  const sandbox = createSandbox();
  const dest = await startDestination();
  t.teardown(async () => {
    await dest.close();
    await sim.close();
    sandbox.remove();
  });
  return { sim, env: cliEnv(sandbox, sim), dest };
}

/** The local ports from the `Forwarding ... ->` and `SOCKS5 proxy on ...` lines, in order. */
async function listeningPorts(cli: PluginProcess, count: number): Promise<number[]> {
  const pattern = /^(?:Forwarding|SOCKS5 proxy on) (?:\[[^\]]+\]|[^:\s]+):(\d+)/gm;
  const ports = await waitFor(
    () => {
      const found = [...cli.stdout().matchAll(pattern)].map((match) => Number(match[1]));
      return found.length >= count ? found : undefined;
    },
    { what: `${count} listening lines`, timeoutMs: 15_000, context: cli.describe, abort: () => (cli.exited ? 'ssm-session exited' : undefined) },
  );
  return ports;
}

/** Ends the CLI with a signal; it must exit 0 within a few seconds. */
async function stop(t: TestContext, cli: PluginProcess, signal: NodeJS.Signals): Promise<void> {
  cli.child.kill(signal);
  await waitFor(() => cli.exited, { what: `ssm-session to exit after ${signal}`, timeoutMs: 8000, context: cli.describe });
  t.same(await cli.exit, { code: 0, signal: null }, `${signal}: exit 0`, { run: cli.describe() });
}

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A server on ::1 that sends `body` to each connection and closes. */
async function ipv6Source(t: TestContext, body: Buffer): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

function download(host: string, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host, port });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

t.test('several -L forwards at once, IPv6 included, every byte checked', async (t) => {
  const { sim, env, dest } = await setup(t);
  const other = await startDestination();
  t.teardown(() => other.close());
  const blob = randomBytes(MiB + 12_345);
  const v6port = await ipv6Source(t, blob);
  const cli = startCli(t, ['forward', TARGET, '-L', `0:localhost:${dest.port}`, '-L', `[::1]:0:127.0.0.1:${other.port}`, '-L', `0:[::1]:${v6port}`, '--pool', '4'], env);
  const [toTarget = 0, fromV6 = 0, toV6 = 0] = await listeningPorts(cli, 3);
  t.match(cli.stdout(), new RegExp(`^Forwarding 127\\.0\\.0\\.1:${toTarget} -> localhost:${dest.port} via ${TARGET}\\n`), 'first line: the target itself');
  t.match(cli.stdout(), new RegExp(`\\nForwarding \\[::1\\]:${fromV6} -> 127\\.0\\.0\\.1:${other.port} via ${TARGET}\\n`), 'second: an IPv6 listener');
  t.match(cli.stdout(), new RegExp(`\\nForwarding 127\\.0\\.0\\.1:${toV6} -> \\[::1\\]:${v6port} via ${TARGET}\\n$`), 'third: an IPv6 destination');
  t.ok(await refused('127.0.0.1', fromV6), 'the [::1] listener is not on 127.0.0.1');

  const specs = [1, 2, 3].map((seed) => ({ seed, upload: 300_000 * seed, download: MiB + 4321 * seed }));
  const runs: Array<Promise<CheckedTransfer>> = [
    ...specs.map((spec) => tcpTransfer('127.0.0.1', toTarget, spec)),
    tcpTransfer('::1', fromV6, { seed: 4, upload: 200_000, download: 2 * MiB }),
    tcpTransfer('::1', fromV6, { seed: 5, upload: MiB, download: 100_000 }),
  ];
  const [v6bytes, ...results] = await Promise.all([download('127.0.0.1', toV6), ...runs]);
  t.ok(results.every(transferIntact), 'five concurrent connections on two forwards: every byte intact both ways (SHA-256)');
  t.equal(sha256(v6bytes), sha256(blob), 'the IPv6 destination sent its bytes unchanged (SHA-256)');
  const sessions = startedSessions(sim);
  const toTargetSessions = sessions.filter((s) => s.document === 'AWS-StartPortForwardingSession');
  t.equal(toTargetSessions.length, 3, 'three parallel connections to the target itself: a session each (pool)');
  t.same(toTargetSessions[0]?.parameters, { portNumber: [String(dest.port)], localPortNumber: ['0'] }, 'AWS-StartPortForwardingSession to the port');
  const remote = sessions.filter((s) => s.document === 'AWS-StartPortForwardingSessionToRemoteHost').map((s) => (s.parameters as { host: string[] }).host[0]);
  t.same([...new Set(remote)].sort(), ['127.0.0.1', '::1'], 'the other forwards used ...ToRemoteHost with the host as written');
  t.equal(cli.stderr(), '', 'stderr not a terminal and no --stats: nothing on stderr');

  await stop(t, cli, 'SIGTERM');
  t.ok(await refused('127.0.0.1', toTarget), 'the listener is gone');
  await waitFor(() => [...sim.sessions.values()].every((s) => s.status === 'terminated'), {
    what: 'every session to be terminated',
    timeoutMs: 10_000,
    context: () => JSON.stringify([...sim.sessions.values()].map((s) => s.status)),
  });
});

/** A small HTTP server on 127.0.0.1 serving `body` at /blob. */
async function httpServer(t: TestContext, body: Buffer): Promise<number> {
  const server = http.createServer((request, response) => {
    if (request.url !== '/blob') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

/** Runs curl (asynchronously: the servers it talks to live in this process). */
function curl(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(CURL!, ['--max-time', '30', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

t.test('-D: curl --socks5-hostname reaches an HTTP server behind the target', async (t) => {
  if (!CURL) {
    t.fail('curl is not installed');
    return;
  }
  const { sim, env } = await setup(t);
  const body = randomBytes(2 * MiB + 3);
  const port = await httpServer(t, body);
  const cli = startCli(t, ['forward', TARGET, '-D', '0', '-L', `0:localhost:${port}`], env);
  const [, socks] = await listeningPorts(cli, 2);
  t.match(cli.stdout(), new RegExp(`SOCKS5 proxy on 127\\.0\\.0\\.1:${socks} via ${TARGET}\\n`), 'the proxy line');

  const byName = await curl(['-sS', '--fail', '--socks5-hostname', `127.0.0.1:${socks}`, `http://localhost:${port}/blob`]);
  t.equal(byName.code, 0, 'curl exits 0', { stderr: byName.stderr });
  t.equal(sha256(byName.stdout), sha256(body), 'the body arrived unchanged (SHA-256); the name was resolved by the target');
  const calls = startedSessions(sim).filter((s) => s.document === 'AWS-StartPortForwardingSessionToRemoteHost');
  t.same(calls[0]?.parameters, { host: ['localhost'], portNumber: [String(port)], localPortNumber: ['0'] }, 'the CONNECT became a remote-host session to localhost:port');

  const missing = await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--socks5-hostname', `127.0.0.1:${socks}`, `http://127.0.0.1:${port}/nothing`]);
  t.equal(missing.stdout.toString(), '404', 'a second destination form (an address) works too');
  const closedPort = await unusedPort();
  const refusedRun = await curl(['-sS', '--socks5-hostname', `127.0.0.1:${socks}`, `http://127.0.0.1:${closedPort}/`]);
  t.not(refusedRun.code, 0, `a refused destination fails curl (exit ${refusedRun.code})`);
  const again = await curl(['-sS', '--fail', '--socks5-hostname', `127.0.0.1:${socks}`, `http://localhost:${port}/blob`]);
  t.equal(sha256(again.stdout), sha256(body), 'and the proxy keeps working afterwards');
  await stop(t, cli, 'SIGINT');
});

t.test('a session killed under a live listener: its connection is reset, the next one works; --stats lines', async (t) => {
  const { sim, env, dest } = await setup(t, { pacing: true });
  const cli = startCli(t, ['--stats', 'forward', TARGET, '-L', `0:localhost:${dest.port}`], env);
  const [port] = await listeningPorts(cli, 1);
  const label = `127.0.0.1:${port}->localhost:${dest.port}`;
  await waitFor(() => cli.stderr().includes(`${label} [no session] 0 conn`), { what: 'a --stats line before any connection', timeoutMs: 10_000, context: cli.describe });

  // 8 MiB at the agent's ~1 MB/s: still running when the session is killed.
  const doomed = tcpTransfer('127.0.0.1', port!, { seed: 21, upload: 1000, download: 8 * MiB, timeoutMs: 30_000 });
  const doomedOutcome = doomed.then(
    () => 'completed',
    (err: Error) => err.message,
  );
  const session = await waitFor(() => [...sim.sessions.values()].find((s) => s.status === 'active'), { what: 'the session', timeoutMs: 10_000 });
  await waitFor(() => dest.records.some((r) => r.seed === 21 && r.downloadSent > 0), { what: 'the download to start', timeoutMs: 10_000 });
  await waitFor(() => /\[1 connected\] 1 conn down [1-9]/.test(cli.stderr()), { what: 'a --stats line showing the live download', timeoutMs: 10_000, context: cli.describe });
  sim.terminateSession(session.sessionId);
  const outcome = await doomedOutcome;
  t.not(outcome, 'completed', `the live connection failed (${outcome})`);
  await waitFor(() => cli.stderr().includes(`${label}: session ${session.sessionId}`), { what: 'a message about the session', timeoutMs: 10_000, context: cli.describe });
  t.pass('stderr says which session ended');

  const next = await tcpTransfer('127.0.0.1', port!, { seed: 22, upload: 50_000, download: 300_000, timeoutMs: 30_000 });
  t.ok(transferIntact(next), 'the next connection works, intact both ways');
  t.equal(startedSessions(sim).length, 2, 'through a new session');
  t.notOk(cli.exited, 'the listener stayed up');
  await stop(t, cli, 'SIGHUP');
});

t.test('in a terminal: one status line redrawn in place; Ctrl-C exits 0', async (t) => {
  const { env, dest } = await setup(t);
  const [node, prefix] = cliCommand();
  const { pty, screen, exit } = startPty(t, node, [...prefix, 'forward', TARGET, '-L', `0:localhost:${dest.port}`], { cols: 200, rows: 20, env });
  const port = Number((await waitFor(() => /Forwarding 127\.0\.0\.1:(\d+) /.exec(screen()), { what: 'the forwarding line', timeoutMs: 15_000, context: () => printable(screen()) }))[1]);
  const result = await tcpTransfer('127.0.0.1', port, { seed: 31, upload: 10_000, download: 500_000 });
  t.ok(transferIntact(result), 'a transfer through the forward');
  await waitFor(() => /\r\x1b\[K127\.0\.0\.1:\d+->localhost:\d+ \[1 connected\] 0 conn down/.test(screen()), {
    what: 'the status line showing the session',
    timeoutMs: 10_000,
    context: () => printable(screen()),
  });
  t.pass('the status line is redrawn in place (\\r, erase line) with the session state');
  pty.write('\x03');
  await waitFor(() => exit(), { what: 'ssm-session to exit after Ctrl-C', timeoutMs: 8000, context: () => printable(screen()) });
  t.equal(exit()?.exitCode, 0, 'exit 0');
  t.match(screen(), /\r\x1b\[K$/, 'the status line was cleared at exit');
});

t.test('a listener that cannot be opened: one line, exit 1, nothing left listening', async (t) => {
  const { env, dest } = await setup(t);
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const takenPort = (taken.address() as net.AddressInfo).port;
  const cli = startCli(t, ['forward', TARGET, '-L', `0:localhost:${dest.port}`, '-L', `${takenPort}:localhost:${dest.port}`], env);
  const exit = await cli.exit;
  t.same(exit, { code: 1, signal: null }, 'exit 1', { run: cli.describe() });
  t.equal(cli.stderr(), `ssm-session: cannot listen on 127.0.0.1:${takenPort}: address already in use\n`, 'one line naming the address');
  t.equal(cli.stdout(), '', 'no Forwarding line: nothing is announced unless every listener is up');
});
