// The plugin's listener in basic mode, one connection at a time: a connection that
// arrives while another is served waits its turn, paused (nothing read from it, nothing
// sent), and is served intact once the first has closed and DisconnectToPort went out.
import t from 'tap';
import { FlagCode } from '../src/protocol/constants.ts';
import { directForward } from './helpers/port-e2e-direct.ts';
import { BASIC_AGENT, checkTransfer, MiB, prerequisites } from './helpers/port-e2e.ts';
import { transfer } from './helpers/port-traffic.ts';
import { waitFor } from './helpers/wait.ts';

t.test('basic mode: a second connection waits for the first, then is served intact', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const { s, sessionId, port } = await directForward(t, { agentVersion: BASIC_AGENT });

  const first = transfer({ port }, { seed: 700, upload: 1 * MiB, download: 2 * MiB, pauseAfter: 1 * MiB, timeoutMs: 20_000 });
  await waitFor(() => first.paused, { what: 'the first connection to be served', timeoutMs: 10_000 });
  const second = transfer({ port }, { seed: 701, upload: 1 * MiB, download: 1 * MiB, timeoutMs: 20_000 });
  await waitFor(() => second.socket.bytesWritten > 0, { what: 'the second connection to send', timeoutMs: 5000 });
  t.equal(second.received, 0, 'the second connection gets nothing while the first is served');
  t.equal(s.dest.accepted, 1, 'and the agent has not dialled for it');

  first.resume();
  checkTransfer(t, s.dest, 700, await first.done, 'the first connection');
  checkTransfer(t, s.dest, 701, await second.done, 'the second connection, after its wait');
  await waitFor(() => s.flags(sessionId).length === 2, { what: 'a DisconnectToPort for each connection', timeoutMs: 5000 });
  t.same(s.flags(sessionId), [FlagCode.DisconnectToPort, FlagCode.DisconnectToPort], 'one DisconnectToPort per connection');
  t.equal(s.dest.accepted, 2, 'the agent dialled the destination again for the second');
});
