// The library's port sessions against the simulator: openStream() round trips with every
// byte checked by SHA-256, in mux mode (several streams over one session) and in basic
// mode (one stream at a time, the next after DisconnectToPort); session stats; a refused
// destination; and terminate().
import t from 'tap';
import { openPortSession, ClientError } from '../src/client/index.ts';
import { startDestination } from './helpers/port-traffic.ts';
import { streamTransfer, transferIntact } from './helpers/client-traffic.ts';
import { MiB, simulatorFor, TARGET } from './helpers/client-env.ts';

const BASIC_AGENT = '3.0.196.0';

t.test('mux: streams round trip a few MiB each way, checked by SHA-256', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: false });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const session = await openPortSession({ target: TARGET, port: dest.port, aws });
  t.equal(session.mode, 'mux', 'a current agent gives mux mode');
  t.equal(session.state, 'connected');
  t.ok(sim.sessions.has(session.sessionId), 'the simulator knows the session');

  const one = await streamTransfer(await session.openStream(), { seed: 1, upload: 3 * MiB, download: 4 * MiB });
  t.ok(transferIntact(one), '4 MiB down and 3 MiB up intact');

  const parallel = await Promise.all(
    [2, 3, 4].map(async (seed) => streamTransfer(await session.openStream(), { seed, upload: 256 * 1024 * seed, download: MiB })),
  );
  t.ok(parallel.every(transferIntact), 'three concurrent streams intact');
  t.equal(dest.accepted, 4, 'each stream is its own destination connection');

  const stats = session.stats;
  t.ok(stats.bytesIn > 7 * MiB, `bytes in counted (${stats.bytesIn})`);
  t.ok(stats.bytesOut > 4 * MiB, `bytes out counted (${stats.bytesOut})`);
  t.type(stats.rttMs, 'number', 'an RTT was measured');
  t.equal(stats.reconnects, 0);

  const states: string[] = [];
  session.on('state', (state: string) => states.push(state));
  await session.terminate();
  t.same(states, ['closed'], "'state' reports closed");
  const outcome = await session.done;
  t.equal(outcome.status, 'ended');
  t.ok(sim.apiCalls.some((call) => call.operation === 'TerminateSession'), 'TerminateSession was called');
  await t.rejects(session.openStream(), { code: 'session-closed' }, 'no streams after the end');
});

t.test('basic mode: one stream at a time, the next one waits for the first to close', async (t) => {
  const { aws } = await simulatorFor(t, { pacing: false, agentVersion: BASIC_AGENT });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const session = await openPortSession({ target: TARGET, port: dest.port, aws });
  t.equal(session.mode, 'basic');
  const first = await session.openStream();
  let secondOpened = false;
  const second = session.openStream().then((stream) => {
    secondOpened = true;
    return stream;
  });
  const one = await streamTransfer(first, { seed: 11, upload: 2 * MiB, download: 2 * MiB });
  t.ok(transferIntact(one), 'first stream intact');
  const two = await streamTransfer(await second, { seed: 12, upload: MiB, download: 3 * MiB });
  t.ok(secondOpened && transferIntact(two), 'second stream, after the first closed, intact');
  t.equal(dest.accepted, 2, 'the agent dialled again after DisconnectToPort');
  await session.terminate();
});

t.test('a session that cannot start rejects with a ClientError', async (t) => {
  const { aws } = await simulatorFor(t, { disconnectedTargets: [TARGET] });
  const err = await openPortSession({ target: TARGET, port: 80, aws }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ClientError, 'a ClientError');
  t.equal((err as ClientError).code, 'start-failed');
  t.match((err as Error).message, /TargetNotConnected/, (err as Error).message);
});
