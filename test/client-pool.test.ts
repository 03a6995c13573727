// The pool beats the agent's per-session pacing: with pacing on (1 KiB per ms per
// session, as the real agent), four parallel downloads through a forward with four
// sessions against the same four downloads multiplexed on one session. Measured, with a
// loose bound (> 2.5x; the ideal is 4x).
import t from 'tap';
import { forwardPort } from '../src/client/index.ts';
import { startDestination } from './helpers/port-traffic.ts';
import { tcpTransfer, transferIntact } from './helpers/client-traffic.ts';
import { MiB, simulatorFor, TARGET } from './helpers/client-env.ts';

const DOWNLOADS = 4;
const SIZE = 1 * MiB;

t.test('4 parallel paced downloads: 4 pooled sessions vs 1 session', async (t) => {
  const { aws } = await simulatorFor(t, { pacing: true });
  const dest = await startDestination();
  t.teardown(() => dest.close());

  const run = async (maxSessions: number, seedBase: number): Promise<number> => {
    const forward = await forwardPort({ target: TARGET, localPort: 0, port: dest.port, aws, pool: { maxSessions } });
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
  t.ok(ratio > 2.5, `pooled sessions are more than 2.5x faster (${ratio.toFixed(2)}x)`);
});
