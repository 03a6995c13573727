// forwardPort() against the simulator: several connections with distinct payloads over
// a pool of sessions, idle sessions terminated, a session killed under a live listener
// (its connection reset, the next one served by a new session), and an IPv6 listener.
import t from 'tap';
import net from 'node:net';
import { forwardPort, type ForwardEvent } from '../src/client/index.ts';
import { startDestination, transfer } from './helpers/port-traffic.ts';
import { tcpTransfer, transferIntact } from './helpers/client-traffic.ts';
import { MiB, simulatorFor, TARGET } from './helpers/client-env.ts';
import { waitFor } from './helpers/wait.ts';
import { longDownload } from './helpers/long-download.ts';

t.test('several connections, distinct payloads, spread over the pool', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: false });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const forward = await forwardPort({ target: TARGET, localPort: 0, port: dest.port, aws, pool: { maxSessions: 3, idleTimeoutMs: 200 } });
  t.teardown(() => forward.close());
  const events: ForwardEvent[] = [];
  forward.on('event', (event: ForwardEvent) => events.push(event));
  t.equal(forward.address.address, '127.0.0.1', 'binds 127.0.0.1 by default');
  t.match(forward.description, new RegExp(`^127\\.0\\.0\\.1:${forward.address.port} -> ${TARGET} localhost:${dest.port}$`));

  const specs = [1, 2, 3, 4, 5, 6].map((seed) => ({ seed, upload: seed * 100_000, download: MiB + seed * 77_777 }));
  const results = await Promise.all(specs.map((spec) => tcpTransfer('127.0.0.1', forward.address.port, spec)));
  t.ok(results.every(transferIntact), 'six concurrent connections, every byte intact both ways');
  const stats = forward.stats;
  t.equal(stats.connections, 6);
  t.equal(stats.sessionsStarted, 3, 'three sessions (the cap); the other connections shared them');
  const expectedUp = specs.reduce((sum, spec) => sum + spec.upload + 16, 0);
  const expectedDown = specs.reduce((sum, spec) => sum + spec.download + 32, 0);
  t.equal(stats.bytesUp, expectedUp, 'bytes up counted exactly');
  t.equal(stats.bytesDown, expectedDown, 'bytes down counted exactly');
  t.type(stats.rttMs, 'number', 'RTT reported');
  t.equal(stats.resets, 0);

  // Idle sessions go after the grace period.
  await waitFor(() => forward.stats.activeSessions === 0, { what: 'idle sessions to be terminated', timeoutMs: 10_000 });
  const terminateCalls = () => sim.apiCalls.filter((call) => call.operation === 'TerminateSession').length;
  await waitFor(() => terminateCalls() >= 3, { what: 'three TerminateSession calls', timeoutMs: 10_000 });
  t.equal(terminateCalls(), 3, 'TerminateSession for each idle session');
  t.equal(events.filter((e) => e.type === 'session-started').length, 3, 'session-started events');
  await waitFor(() => events.filter((e) => e.type === 'session-closed').length === 3, { what: 'session-closed events', timeoutMs: 10_000 });
  t.equal(events.filter((e) => e.type === 'connection-opened').length, 6);
  t.equal(events.filter((e) => e.type === 'connection-closed').length, 6);

  // The listener still works with no session: a new one starts.
  const again = await tcpTransfer('127.0.0.1', forward.address.port, { seed: 9, upload: 1000, download: 5000 });
  t.ok(transferIntact(again), 'a connection after the idle timeout works');
  t.equal(forward.stats.sessionsStarted, 4);
});

t.test('a session killed under a live listener: its connection is reset, the next one works', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: true });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const forward = await forwardPort({ target: TARGET, localPort: 0, port: dest.port, aws, pool: { maxSessions: 2 } });
  t.teardown(() => forward.close());
  const events: ForwardEvent[] = [];
  forward.on('event', (event: ForwardEvent) => events.push(event));

  // A long paced download, so the connection is busy when the session goes.
  const socket = net.connect({ host: '127.0.0.1', port: forward.address.port });
  const download = longDownload(socket, 64 * MiB);
  await waitFor(() => download.received > 50_000, { what: 'download bytes through the forward', timeoutMs: 10_000 });
  const started = events.find((e) => e.type === 'session-started');
  if (started?.type !== 'session-started') throw new Error('no session-started event');
  sim.terminateSession(started.sessionId);

  t.equal(await download.ended, 'ECONNRESET', 'the local connection is reset, not ended cleanly');
  await waitFor(() => events.some((e) => e.type === 'connection-closed' && e.reset), { what: 'a reset connection-closed event', timeoutMs: 5000 });
  t.equal(forward.stats.resets, 1, 'one reset counted');

  const next = await tcpTransfer('127.0.0.1', forward.address.port, { seed: 2, upload: 50_000, download: 200_000 });
  t.ok(transferIntact(next), 'the next connection works');
  const sessions = events.filter((e) => e.type === 'session-started').map((e) => (e.type === 'session-started' ? e.sessionId : ''));
  t.equal(sessions.length, 2, 'on a fresh session');
  t.not(sessions[1], started.sessionId);
  t.ok(events.some((e) => e.type === 'session-closed' && e.sessionId === started.sessionId), 'session-closed reported');
});

t.test('backpressure: a stalled local reader holds the destination back; resuming completes intact', async (t) => {
  const { aws } = await simulatorFor(t, { pacing: false });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const forward = await forwardPort({ target: TARGET, localPort: 0, port: dest.port, aws });
  t.teardown(() => forward.close());
  const size = 48 * MiB;
  const slow = transfer({ port: forward.address.port }, { seed: 4, upload: 2 * MiB, download: size, pauseAfter: MiB, timeoutMs: 60_000 });
  await waitFor(() => slow.paused && dest.records[0]?.downloadBlocked, {
    what: 'the destination to be blocked by the stalled reader',
    timeoutMs: 20_000,
    context: () => JSON.stringify(dest.records[0]),
  });
  // Settle: whatever is in flight lands in buffers; then nothing more may be taken.
  const sentAtBlock = dest.records[0]!.downloadSent;
  t.comment(`blocked at ${sentAtBlock} sent, ${forward.stats.bytesDown} delivered`);
  t.ok(sentAtBlock < size / 2, `the destination could write only ${(sentAtBlock / MiB).toFixed(1)} of 48 MiB`);
  t.ok(forward.stats.bytesDown < 8 * MiB, `little was delivered locally meanwhile (${forward.stats.bytesDown} bytes)`);
  slow.resume();
  const result = await slow.done;
  t.equal(result.downloadReceived, size);
  t.equal(dest.records[0]!.downloadDigest, result.downloadDigest, '48 MiB down intact after the stall');
  t.equal(dest.records[0]!.uploadDigest, result.uploadDigest, 'upload intact');
});

// With pacing on, few agent frames are in flight when the connection drops: the agent
// resends only its oldest unacknowledged frame per 100 ms (see resilience-transfer.test.ts).
t.test('a dropped data-channel connection is resumed under a live transfer', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: true });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const forward = await forwardPort({ target: TARGET, localPort: 0, port: dest.port, aws });
  t.teardown(() => forward.close());
  const states: string[] = [];
  forward.on('session-state', (event: ForwardEvent) => event.type === 'session-state' && states.push(event.state));
  const running = transfer({ port: forward.address.port }, { seed: 8, upload: 2 * MiB, download: 2 * MiB, timeoutMs: 30_000 });
  await waitFor(() => running.received > 512 * 1024, { what: 'part of the download', timeoutMs: 20_000 });
  const [sessionId] = [...sim.sessions.keys()];
  sim.disconnectClient(sessionId!);
  const result = await running.done;
  t.equal(dest.records[0]!.downloadDigest, result.downloadDigest, 'download intact across the reconnect');
  t.equal(dest.records[0]!.uploadDigest, result.uploadDigest, 'upload intact across the reconnect');
  t.equal(forward.stats.reconnects, 1, 'one reconnect counted');
  t.equal(forward.stats.resets, 0, 'nothing reset');
  t.ok(states.includes('reconnecting'), `reconnecting reported (${states.join(', ')})`);
});

t.test('a session that cannot start: the connection is reset, the listener stays', async (t) => {
  const { aws } = await simulatorFor(t, { pacing: false, disconnectedTargets: [TARGET] });
  const forward = await forwardPort({ target: TARGET, localPort: 0, port: 80, aws });
  t.teardown(() => forward.close());
  const failures: string[] = [];
  forward.on('failure', (event: ForwardEvent) => failures.push(event.type === 'failure' ? event.message : ''));
  for (let i = 0; i < 2; i++) {
    const code = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: forward.address.port });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      socket.once('close', () => resolve('closed'));
    });
    t.equal(code, 'ECONNRESET', `connection ${i + 1} reset`);
  }
  t.equal(failures.length, 2);
  t.match(failures[0], /TargetNotConnected/, 'the failure names the reason');
  await t.rejects(forwardPort({ target: TARGET, localPort: 0, port: 70_000, aws }), { code: 'invalid-argument' }, 'a bad port is refused at once');
});

const ipv6 = await new Promise<boolean>((resolve) => {
  const probe = net.createServer().once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

t.test('IPv6: a forward bound to ::1', { skip: ipv6 ? false : 'this machine cannot listen on ::1 (no IPv6 loopback)' }, async (t) => {
  const { aws } = await simulatorFor(t, { pacing: false });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const forward = await forwardPort({ target: TARGET, bind: '[::1]', localPort: 0, port: dest.port, aws });
  t.teardown(() => forward.close());
  t.equal(forward.address.address, '::1');
  t.equal(forward.address.family, 'IPv6');
  t.match(forward.description, /^\[::1\]:\d+ -> /);
  const result = await tcpTransfer('::1', forward.address.port, { seed: 6, upload: 300_000, download: MiB });
  t.ok(transferIntact(result), 'a transfer over ::1 intact');
  await t.rejects(
    forwardPort({ target: TARGET, bind: '::1', localPort: forward.address.port, port: dest.port, aws }),
    { code: 'listen-failed', message: /address already in use/ },
    'a taken port is a clear listen error',
  );
});

