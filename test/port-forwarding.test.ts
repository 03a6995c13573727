// Port forwarding end to end, bulk: the built binary (directly, with the response in
// AWS_SSM_START_SESSION_RESPONSE, or started by the real AWS CLI) against the simulator
// with pacing off, and a destination TCP server in this process. 64 MiB each way in basic
// and in mux mode and eight concurrent connections, every byte checked by SHA-256 at both
// ends; messages compared byte for byte with the official texts (PROTOCOL.md §7.3.6);
// Ctrl-C / SIGTERM end the session with the TerminateSession flag and API call.
// Edge cases (stalled readers, ConnectToPortError, Unix socket, listen failure) are in
// port-forwarding-edges.test.ts.
import t from 'tap';
import { existsSync } from 'node:fs';
import { FlagCode, terminateCalls } from './helpers/port-session.ts';
import { transfer } from './helpers/port-traffic.ts';
import { commandLine } from './helpers/processes.ts';
import { waitFor } from './helpers/wait.ts';
import { directForward } from './helpers/port-e2e-direct.ts';
import {
  awsCliSession,
  BASIC_AGENT,
  checkTransfer,
  connectRefused,
  exitOf,
  exitText,
  FORWARD,
  MiB,
  openedPort,
  prerequisites,
  setup,
} from './helpers/port-e2e.ts';

// ---------------------------------------------------------------------------------------

t.test('basic mode: 64 MiB each way, DisconnectToPort then a second connection, SIGTERM', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const { s, sessionId, plugin, port } = await directForward(t, { agentVersion: BASIC_AGENT });

  const big = await transfer({ port }, { seed: 1, upload: 64 * MiB, download: 64 * MiB, timeoutMs: 40_000 }).done;
  checkTransfer(t, s.dest, 1, big, '64 MiB each way (basic)');

  // Closing the local connection sends DisconnectToPort; the agent closes its side.
  await waitFor(() => s.flags(sessionId).includes(FlagCode.DisconnectToPort), {
    what: 'a DisconnectToPort flag at the agent',
    timeoutMs: 5000,
  });
  await waitFor(() => s.dest.records[0]?.closed, { what: 'the agent to close the destination connection', timeoutMs: 5000 });
  const second = await transfer({ port }, { seed: 2, upload: 1 * MiB, download: 3 * MiB, timeoutMs: 15_000 }).done;
  checkTransfer(t, s.dest, 2, second, 'second connection after DisconnectToPort');
  t.equal(s.dest.accepted, 2, 'the agent dialled the destination again');

  const stdoutBefore = plugin.stdout();
  t.equal(
    stdoutBefore,
    `\nStarting session with SessionId: ${sessionId}\n` +
      `Port ${port} opened for sessionId ${sessionId}.\n` +
      `Connection accepted for session ${sessionId}.\n`,
    'stdout: banner, opened, accepted (once), byte for byte',
  );

  await waitFor(() => s.flags(sessionId).length === 2, { what: 'a DisconnectToPort flag for the second connection', timeoutMs: 5000 });
  plugin.child.kill('SIGTERM');
  const exit = await exitOf(t, plugin);
  t.same(exit, { code: 0, signal: null }, 'exit 0 on SIGTERM');
  t.equal(plugin.stdout().slice(stdoutBefore.length), exitText(sessionId), 'the exit messages');
  t.equal(plugin.stderr(), '', 'nothing on stderr');
  t.same(
    s.flags(sessionId),
    [FlagCode.DisconnectToPort, FlagCode.DisconnectToPort, FlagCode.TerminateSession],
    'flags at the agent: DisconnectToPort per connection, then TerminateSession',
  );
  t.equal(terminateCalls(s.sim, sessionId), 1, 'one TerminateSession API call');
  t.equal(await connectRefused({ port, host: '127.0.0.1' }), 'ECONNREFUSED', 'the listener is gone');
});

t.test('mux mode through `aws ssm start-session`: 64 MiB each way, 8 concurrent connections, Ctrl-C', async (t) => {
  if (!prerequisites(t, { aws: true })) return;
  const s = await setup(t);
  const { sessionId, aws, pluginPid } = await awsCliSession(
    t,
    s,
    FORWARD,
    `portNumber=${s.dest.port},localPortNumber=0`,
  );
  const port = await openedPort(aws);

  const big = await transfer({ port }, { seed: 10, upload: 64 * MiB, download: 64 * MiB, timeoutMs: 40_000 }).done;
  checkTransfer(t, s.dest, 10, big, '64 MiB each way (mux)');

  // Eight at once, each with its own bytes and sizes.
  const many = Array.from({ length: 8 }, (_, i) =>
    transfer({ port }, { seed: 100 + i, upload: MiB + i * 256 * 1024 + i * 977, download: 3 * MiB - i * 256 * 1024 + i * 131, timeoutMs: 40_000 }),
  );
  const results = await Promise.all(many.map((m) => m.done));
  results.forEach((r, i) => checkTransfer(t, s.dest, 100 + i, r, `concurrent connection ${i + 1}/8`));
  t.equal(new Set(results.map((r) => r.downloadDigest)).size, 8, 'eight distinct payloads');

  const stdoutBefore = aws.stdout();
  t.equal(
    stdoutBefore,
    `\nStarting session with SessionId: ${sessionId}\n` +
      `Port ${port} opened for sessionId ${sessionId}.\nWaiting for connections...\n` +
      `\nConnection accepted for session [${sessionId}]\n`,
    'stdout: banner, opened, waiting, accepted (once), byte for byte',
  );

  // Ctrl-C at a terminal: SIGINT to the whole foreground process group. The CLI ignores it
  // while the plugin runs; the plugin ends the session.
  process.kill(-aws.pid, 'SIGINT');
  const exit = await exitOf(t, aws);
  t.same(exit, { code: 0, signal: null }, 'aws exits 0 after Ctrl-C');
  t.equal(aws.stdout().slice(stdoutBefore.length), exitText(sessionId), 'the exit messages');
  t.equal(aws.stderr(), '', 'nothing on stderr');
  t.same(s.flags(sessionId), [FlagCode.TerminateSession], 'only a TerminateSession flag (none other in mux mode)');
  t.equal(terminateCalls(s.sim, sessionId), 1, 'one TerminateSession API call');
  t.notOk(existsSync(`/proc/${pluginPid}/stat`) && commandLine(pluginPid)?.length, 'the plugin process is gone');
  t.equal(await connectRefused({ port, host: '127.0.0.1' }), 'ECONNREFUSED', 'the listener is gone');
});

