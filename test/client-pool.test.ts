// The pool beats the agent's per-session pacing: with pacing on (1 KiB per ms per
// session, as the real agent), four parallel downloads through a forward with four
// sessions against the same four downloads multiplexed on one session. What is asserted
// is that the pool really spreads the downloads over four sessions running at once, each
// with its own paced agent; the speed-up is only printed here. Its target is a figure of
// `npm run bench` (scripts/bench-pool.mjs), where timing belongs.
import t from 'tap';
import { forwardPort } from '../src/client/index.ts';
import { startDestination } from './helpers/port-traffic.ts';
import { tcpTransfer, transferIntact } from './helpers/client-traffic.ts';
import { MiB, simulatorFor, TARGET } from './helpers/client-env.ts';

const DOWNLOADS = 4;
const SIZE = 1 * MiB;

t.test('4 parallel paced downloads: 4 pooled sessions vs 1 session', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: true });
  const dest = await startDestination();
  t.teardown(() => dest.close());

  const run = async (maxSessions: number, seedBase: number): Promise<number> => {
    const before = new Set(sim.sessions.keys());
    const forward = await forwardPort({ target: TARGET, localPort: 0, port: dest.port, aws, pool: { maxSessions } });
    // Sessions running while all the downloads are open at once.
    let peakSessions = 0;
    const sample = () => {
      if (forward.stats.activeConnections === DOWNLOADS) peakSessions = Math.max(peakSessions, forward.stats.activeSessions);
    };
    forward.on('session-started', sample);
    forward.on('connection-opened', sample);
    try {
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: DOWNLOADS }, (_, i) =>
          tcpTransfer('127.0.0.1', forward.address.port, { seed: seedBase + i, upload: 0, download: SIZE, timeoutMs: 60_000 }),
        ),
      );
      const seconds = (performance.now() - started) / 1000;
      t.ok(results.every(transferIntact), `${maxSessions} session(s): every download intact`);
      t.equal(forward.stats.sessionsStarted, maxSessions, `${maxSessions} session(s) used`);
      t.equal(peakSessions, maxSessions, `${maxSessions} session(s) running while the ${DOWNLOADS} downloads were open`);
      // Each session's agent dialled the destination once per download it carried.
      const dials = [...sim.sessions.entries()]
        .filter(([id]) => !before.has(id))
        .map(([, session]) => (session.agent.sessionPlugin as unknown as { dials: number }).dials);
      t.same(dials, Array.from({ length: maxSessions }, () => DOWNLOADS / maxSessions), `downloads per session: ${dials.join(', ')}`);
      return (DOWNLOADS * SIZE) / seconds;
    } finally {
      await forward.close();
    }
  };

  const single = await run(1, 100);
  const pooled = await run(DOWNLOADS, 200);
  const ratio = pooled / single;
  const mb = (rate: number) => (rate / 1e6).toFixed(2);
  t.comment(`one session: ${mb(single)} MB/s; ${DOWNLOADS} sessions: ${mb(pooled)} MB/s; speed-up ${ratio.toFixed(2)}x`);
});
