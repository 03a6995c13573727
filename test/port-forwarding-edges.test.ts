// Port forwarding end to end, edge cases: stalled local readers in mux mode,
// ConnectToPortError, the Unix socket endpoint, an ephemeral port on 127.0.0.1 through
// `aws ssm start-session` with AWS-StartPortForwardingSessionToRemoteHost, and a local
// port already in use. Same set-up as port-forwarding.test.ts (helpers/port-e2e.ts).
import t from 'tap';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FlagCode, listeningOn, portRequest, terminateCalls } from './helpers/port-session.ts';
import { transfer, type Transfer } from './helpers/port-traffic.ts';
import { waitFor } from './helpers/wait.ts';
import { directForward } from './helpers/port-e2e-direct.ts';
import { awsClis } from './helpers/aws-cli-sandbox.ts';
import {
  awsCliSession,
  BASIC_AGENT,
  checkTransfer,
  connectRefused,
  directSession,
  exitOf,
  exitText,
  FORWARD,
  FORWARD_REMOTE,
  MiB,
  openedPort,
  prerequisites,
  setup,
} from './helpers/port-e2e.ts';

t.test('mux mode: a stalled local reader waits while the others finish, then gets every byte', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const { s, plugin, port } = await directForward(t);

  const slow = transfer({ port }, { seed: 200, upload: 1 * MiB, download: 3 * MiB, pauseAfter: 64 * 1024, timeoutMs: 40_000 });
  await waitFor(() => slow.paused, { what: 'the slow reader to stop reading', timeoutMs: 10_000 });
  // Everything the destination will ever send for it is on its way before the others start.
  await waitFor(() => s.dest.records.find((r) => r.seed === 200)?.downloadDigest, {
    what: 'the destination to finish writing the stalled download',
    timeoutMs: 10_000,
  });
  const stalledAt = slow.received;
  const others = [201, 202, 203].map((seed) => transfer({ port }, { seed, upload: 6 * MiB, download: 8 * MiB, timeoutMs: 30_000 }));
  const results = await Promise.all(others.map((o) => o.done));
  results.forEach((r, i) => checkTransfer(t, s.dest, 201 + i, r, `connection ${i + 1} beside the stalled one`));
  t.ok(slow.paused, 'the stalled reader was still not reading while the others finished');
  t.equal(slow.received, stalledAt, 'and had received nothing more');
  slow.resume();
  const result = await slow.done;
  checkTransfer(t, s.dest, 200, result, 'the stalled connection after resuming');
  t.equal(result.downloadReceived, 3 * MiB, 'all 3 MiB arrived');
});

t.test('mux mode: a reader stalled beyond the receive limit holds the channel; nothing is lost', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const { s, plugin, port } = await directForward(t);

  // 24 MiB cannot fit in the plugin's 4 MiB receive limit plus the socket buffers: the
  // plugin stops reading the data channel (as the official client's smux does), the
  // agent's writes back up, and the agent stops reading the destination.
  const slow = transfer({ port }, { seed: 300, upload: 0, download: 24 * MiB, pauseAfter: 64 * 1024, timeoutMs: 40_000 });
  await waitFor(() => slow.paused, { what: 'the slow reader to stop reading', timeoutMs: 10_000 });
  await waitFor(
    () => {
      const r = s.dest.records.find((x) => x.seed === 300);
      return r && r.downloadBlocked && performance.now() - r.lastWriteAt > 500;
    },
    { what: 'the destination to be blocked writing the stalled download', timeoutMs: 15_000 },
  );
  const blockedAt = s.dest.records.find((x) => x.seed === 300)!.downloadSent;
  t.ok(blockedAt < 24 * MiB, `backpressure reached the destination after ${(blockedAt / MiB).toFixed(1)} MiB`);
  const other = transfer({ port }, { seed: 301, upload: 2 * MiB, download: 2 * MiB, timeoutMs: 40_000 });
  slow.resume();
  const [a, b] = await Promise.all([slow.done, other.done]);
  checkTransfer(t, s.dest, 300, a, 'stalled connection');
  checkTransfer(t, s.dest, 301, b, 'connection beside it');
  t.notOk(plugin.exited, 'the session survived');
});

t.test('mux mode: ConnectToPortError closes that connection only; the others keep going', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const { s, sessionId, plugin, port } = await directForward(t);

  // Two transfers held mid-way by their readers, so they are surely still open. What
  // they leave unread fits in the plugin's receive buffers, so the channel keeps flowing.
  const running: Transfer[] = [400, 401].map((seed) =>
    transfer({ port }, { seed, upload: 4 * MiB, download: 2 * MiB, pauseAfter: 1 * MiB, timeoutMs: 40_000 }),
  );
  await waitFor(() => running.every((r) => r.paused), { what: 'both transfers to be under way', timeoutMs: 10_000 });

  await s.dest.stopListening(); // the agent's next dial is refused
  const before = plugin.stdout();
  const failed = transfer({ port }, { seed: 402, upload: 1000, download: 1000, timeoutMs: 10_000 });
  const error = await failed.done.then(
    () => undefined,
    (err: Error) => err.message,
  );
  t.match(error, /connection closed early: 0\/1000/, 'the refused connection is closed by the plugin, no bytes');
  await plugin.waitStdout(/check SSM Agent logs\.\n$/, 'the ConnectToPortError message', 5000);
  t.equal(
    plugin.stdout().slice(before.length),
    '\nConnection to destination port failed, check SSM Agent logs.\n',
    'the official message, byte for byte, once',
  );

  await s.dest.listenAgain();
  for (const r of running) r.resume();
  const results = await Promise.all(running.map((r) => r.done));
  results.forEach((r, i) => checkTransfer(t, s.dest, 400 + i, r, `connection ${i + 1} open during the failure`));
  const after = await transfer({ port }, { seed: 403, upload: 2 * MiB, download: 2 * MiB, timeoutMs: 20_000 }).done;
  checkTransfer(t, s.dest, 403, after, 'a new connection once the destination is back');
  t.notOk(plugin.exited, 'the session is still running');
  t.same(s.flags(sessionId), [], 'the client sent no flag');
});

t.test('Unix socket endpoint: 0600 while open, transfers intact, removed on exit', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const s = await setup(t);
  const socketPath = path.join(s.sandbox.dir, 'forward.sock');
  const request = portRequest(FORWARD, {
    portNumber: String(s.dest.port),
    localConnectionType: 'unix',
    localUnixSocket: socketPath,
  });
  const { sessionId, plugin } = await directSession(t, s, request);
  await plugin.waitStdout(/Waiting for connections\.\.\.\n/, 'the listener');
  t.equal(
    plugin.stdout(),
    `\nStarting session with SessionId: ${sessionId}\nUnix socket ${socketPath} opened for sessionId ${sessionId}.\nWaiting for connections...\n`,
    'stdout names the socket, byte for byte',
  );
  const stat = statSync(socketPath);
  t.ok(stat.isSocket(), 'a socket file exists');
  t.equal((stat.mode & 0o777).toString(8), '600', 'mode 0600 (owner only)');

  const results = await Promise.all(
    [500, 501].map((seed) => transfer({ path: socketPath }, { seed, upload: 4 * MiB, download: 4 * MiB, timeoutMs: 20_000 }).done),
  );
  results.forEach((r, i) => checkTransfer(t, s.dest, 500 + i, r, `unix socket connection ${i + 1}`));

  plugin.child.kill('SIGTERM');
  const exit = await exitOf(t, plugin);
  t.same(exit, { code: 0, signal: null }, 'exit 0 on SIGTERM');
  t.ok(plugin.stdout().endsWith(exitText(sessionId)), 'the exit messages');
  t.notOk(existsSync(socketPath), 'the socket file is gone');
  t.same(s.flags(sessionId), [FlagCode.TerminateSession], 'TerminateSession flag reached the agent');
  t.equal(terminateCalls(s.sim, sessionId), 1, 'one TerminateSession API call');
});

for (const cli of awsClis()) t.test(`to a remote host through ${cli.label} ssm start-session: ephemeral port on 127.0.0.1 only, SIGTERM`, async (t) => {
  if (!prerequisites(t, { aws: cli })) return;
  const s = await setup(t);
  const { sessionId, aws, pluginPid } = await awsCliSession(
    t,
    s,
    FORWARD_REMOTE,
    `host=127.0.0.1,portNumber=${s.dest.port},localPortNumber=0`,
    cli,
  );
  const port = await openedPort(aws);
  t.ok(port > 0 && port !== s.dest.port, `an ephemeral port was picked and printed (${port})`);
  const listening = listeningOn(port);
  t.same(listening.v4, ['0100007F'], 'listening on 127.0.0.1 (and only there)');
  t.same(listening.v6, [], 'not listening on ::1 or any IPv6 address');
  t.not(await connectRefused({ port, host: '::1', family: 6 }), undefined, 'a connection to [::1] fails');

  const result = await transfer({ port }, { seed: 600, upload: 8 * MiB, download: 8 * MiB, timeoutMs: 20_000 }).done;
  checkTransfer(t, s.dest, 600, result, 'through the printed port');

  process.kill(pluginPid, 'SIGTERM');
  const exit = await exitOf(t, aws);
  t.same(exit, { code: 0, signal: null }, 'aws exits 0 when the plugin gets SIGTERM');
  t.ok(aws.stdout().endsWith(exitText(sessionId)), 'the exit messages');
  t.same(s.flags(sessionId), [FlagCode.TerminateSession], 'TerminateSession flag reached the agent');
  t.equal(terminateCalls(s.sim, sessionId), 1, 'one TerminateSession API call');
  t.same(listeningOn(port), { v4: [], v6: [] }, 'the listener is gone');
});

t.test('listen failure (port in use): one clear line, TerminateSession, no hang', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const s = await setup(t);
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const busy = (squatter.address() as net.AddressInfo).port;

  const sessions = await Promise.all(
    (['mux', 'basic'] as const).map(async (mode) => {
      const s2 = mode === 'basic' ? await setup(t, { agentVersion: BASIC_AGENT }) : s;
      const request = portRequest(FORWARD, { portNumber: String(s2.dest.port), localPortNumber: String(busy) });
      return { mode, s2, ...(await directSession(t, s2, request)) };
    }),
  );
  for (const { mode, s2, sessionId, plugin } of sessions) {
    const exit = await exitOf(t, plugin, 15_000);
    t.same(exit, { code: 1, signal: null }, `${mode}: exit 1 (response came through the environment)`);
    t.equal(
      plugin.stderr(),
      `Cannot perform start session: cannot listen on 127.0.0.1:${busy}: address already in use\n`,
      `${mode}: one clear line on stderr`,
    );
    t.notMatch(plugin.stdout(), /opened for sessionId/, `${mode}: no "opened" message`);
    t.equal(terminateCalls(s2.sim, sessionId), 1, `${mode}: TerminateSession API called`);
  }
});

t.test('ssh mode: stdin closing first delivers what was written, then terminates the session', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const s = await setup(t);
  // A destination that, like sshd waiting for more, never closes by itself.
  const received: Buffer[] = [];
  const server = net.createServer((socket) => socket.on('data', (chunk) => received.push(chunk)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const { sessionId, plugin } = await directSession(t, s, portRequest('AWS-StartSSHSession', { portNumber: String(port) }));
  await waitFor(() => s.sim.sessions.get(sessionId)?.client !== undefined, { what: 'the data channel', timeoutMs: 10_000 });
  const payload = Buffer.alloc(300_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
  plugin.child.stdin.end(payload);
  const exit = await exitOf(t, plugin);
  t.same(exit, { code: 0, signal: null }, 'exit 0');
  t.ok(Buffer.concat(received).equals(payload), 'the destination got every byte written before the end');
  t.equal(terminateCalls(s.sim, sessionId), 1, 'one TerminateSession API call');
  await waitFor(() => s.sim.sessions.get(sessionId)?.status === 'terminated', { what: 'the session to end at the agent', timeoutMs: 5_000 });
  t.equal(plugin.stdout(), '', 'stdout carries only the session stream (nothing came back)');
});
