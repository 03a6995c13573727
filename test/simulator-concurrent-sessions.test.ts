import t from 'tap';
import { SSMClient, StartSessionCommand, TerminateSessionCommand } from '@aws-sdk/client-ssm';
import { PassThrough } from 'node:stream';
import { PluginSession } from '../src/cli/plugin-session.ts';
import type { SessionOutcome } from '../src/session/session-contract.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { REGION } from './helpers/aws-cli-sandbox.ts';
import { checkTransfer, MiB } from './helpers/port-e2e.ts';
import { startDestination, transfer, type TransferResult } from './helpers/port-traffic.ts';
import { waitFor } from './helpers/wait.ts';

/*
 * Many sessions at once in one simulator, with the agent's 1 ms pacing on (the default):
 * 16 port-forwarding sessions, each its own PluginSession over a real WebSocket, all open
 * together, then one transfer through each at the same time. Every byte is checked both
 * ways, and the sessions must really run side by side: pacing caps each session at about
 * 1 MB/s, and every session must progress together rather than one after another.
 */

const SESSIONS = 16;
const DOWNLOAD = MiB / 2;
const UPLOAD = MiB / 4;

t.test(`${SESSIONS} concurrent paced port sessions, every byte checked`, async (t) => {
  const sim = await startSimulator({ frameLogLimit: 0 });
  const dest = await startDestination();
  const ssm = new SSMClient({
    region: REGION,
    endpoint: sim.endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  const sessions: PluginSession[] = [];
  t.teardown(async () => {
    for (const session of sessions) session.end('test over', false);
    ssm.destroy();
    await dest.close();
    await sim.close();
  });

  const open = async (index: number) => {
    const started = await ssm.send(
      new StartSessionCommand({
        Target: 'i-0123456789abcdef0',
        DocumentName: 'AWS-StartPortForwardingSession',
        Parameters: { portNumber: [String(dest.port)], localPortNumber: ['0'] },
      }),
    );
    let notices = '';
    const stdout = new PassThrough();
    stdout.on('data', (chunk: Buffer) => (notices += chunk.toString()));
    const session = new PluginSession({
      sessionId: started.SessionId!,
      tokenValue: started.TokenValue!,
      streamUrl: started.StreamUrl!,
      target: 'i-0123456789abcdef0',
      io: { stdin: new PassThrough() as never, stdout: stdout as never, stderr: new PassThrough() },
      api: { terminateSession: async (id) => void (await ssm.send(new TerminateSessionCommand({ SessionId: id }))) },
    });
    sessions[index] = session;
    const outcome = session.run();
    const port = await waitFor(() => /Port (\d+) opened for sessionId/.exec(notices)?.[1], {
      what: `session ${index}: the local port`,
      timeoutMs: 20_000,
      context: () => notices,
    });
    return { sessionId: started.SessionId!, port: Number(port), outcome };
  };

  const opened = await Promise.all(Array.from({ length: SESSIONS }, (_, index) => open(index)));
  t.equal(new Set(opened.map((o) => o.sessionId)).size, SESSIONS, 'distinct sessions');
  t.equal(new Set(opened.map((o) => o.port)).size, SESSIONS, 'distinct local ports');
  const attached = [...sim.sessions.values()].filter((s) => s.status === 'active' && s.client !== undefined);
  t.equal(attached.length, SESSIONS, `${SESSIONS} sessions active with a client attached at the same time`);
  t.ok(sessions.every((s) => s.state === 'connected'), 'every session connected');

  const wallStart = performance.now();
  const results: TransferResult[] = await Promise.all(
    opened.map((o, index) => transfer({ port: o.port }, { seed: 7000 + index, upload: UPLOAD, download: DOWNLOAD, timeoutMs: 60_000 }).done),
  );
  const wallMs = performance.now() - wallStart;
  results.forEach((result, index) => checkTransfer(t, dest, 7000 + index, result, `session ${index}`));
  t.equal(dest.accepted, SESSIONS, 'one destination connection per session');

  // 512 KiB at 1 KiB per ms cannot take much under half a second in one session.
  const slowest = Math.max(...results.map((r) => r.ms));
  const fastest = Math.min(...results.map((r) => r.ms));
  const sum = results.reduce((total, r) => total + r.ms, 0);
  t.ok(fastest >= 400, `pacing is on: the fastest session took ${fastest.toFixed(0)} ms for ${DOWNLOAD / 1024} KiB`);
  // Served one after another, the first would finish in about 1/16 of the wall time.
  t.ok(
    fastest > wallMs / 2,
    `sessions ran side by side: the fastest took ${fastest.toFixed(0)} ms of ${wallMs.toFixed(0)} ms wall ` +
      `(slowest ${slowest.toFixed(0)} ms; ${((SESSIONS * DOWNLOAD) / MiB / (wallMs / 1000)).toFixed(1)} MiB/s aggregate down, ` +
      `${(sum / wallMs).toFixed(1)} sessions busy on average)`,
  );

  for (const session of sessions) session.end('test over', true);
  const outcomes: SessionOutcome[] = await Promise.all(opened.map((o) => o.outcome));
  t.ok(outcomes.every((o) => o.status === 'ended'), 'every session ended from this side');
  await waitFor(() => [...sim.sessions.values()].every((s) => s.status === 'terminated'), {
    what: 'every session terminated in the simulator',
    timeoutMs: 10_000,
  });
  t.equal(sim.apiCalls.filter((c) => c.operation === 'TerminateSession' && c.status === 200).length, SESSIONS, 'one TerminateSession each');
});
