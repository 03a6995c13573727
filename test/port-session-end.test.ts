// One behaviour when a port session dies under a live connection, for the plugin's
// listener (basic and mux mode) and the library's streams: the local connection is
// reset (RST), so the client sees a failure and never takes a cut transfer for a whole
// one. (The library's forward is checked the same way in client-forward.test.ts.)
import t from 'tap';
import net from 'node:net';
import { directForward } from './helpers/port-e2e-direct.ts';
import { BASIC_AGENT, exitOf, MiB, prerequisites } from './helpers/port-e2e.ts';
import { waitFor } from './helpers/wait.ts';
import { simulatorFor, TARGET } from './helpers/client-env.ts';
import { startDestination } from './helpers/port-traffic.ts';
import { openPortSession } from '../src/client/index.ts';
import { longDownload } from './helpers/long-download.ts';

for (const mode of ['mux', 'basic'] as const) {
  t.test(`plugin, ${mode} mode: the session ends under a live connection, which is reset`, async (t) => {
    if (!prerequisites(t, { aws: false })) return;
    const { s, sessionId, plugin, port } = await directForward(t, {
      pacing: true,
      ...(mode === 'basic' ? { agentVersion: BASIC_AGENT } : {}),
    });
    const socket = net.connect({ host: '127.0.0.1', port });
    const download = longDownload(socket, 256 * MiB);
    await waitFor(() => download.received > 50_000, { what: 'download bytes through the plugin', timeoutMs: 10_000 });
    s.sim.terminateSession(sessionId);
    t.equal(await download.ended, 'ECONNRESET', 'the local connection is reset, not ended cleanly');
    t.ok(download.received < 256 * MiB, 'the download was cut');
    const exit = await exitOf(t, plugin);
    t.equal(exit.code, 0, 'the plugin exits as after any session the service ended');
  });
}

t.test('library, basic mode: the session ends under a live stream, which is destroyed without an end', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: true, agentVersion: BASIC_AGENT });
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const session = await openPortSession({ target: TARGET, port: dest.port, aws });
  const stream = await session.openStream();
  const download = longDownload(stream, 256 * MiB);
  await waitFor(() => download.received > 50_000, { what: 'download bytes on the stream', timeoutMs: 10_000 });
  sim.terminateSession(session.sessionId);
  t.equal(await download.ended, 'closed without an error', 'no end: the stream is destroyed');
  t.notOk(stream.readableEnded, 'the readable side never ended');
  await session.done;
});
