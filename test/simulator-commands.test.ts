import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { SEPARATE_STREAMS_UPDATE_NOTICE } from '../src/simulator/agent/documents.ts';
import { callTarget, startAndOpen } from './helpers/sim-raw-client.ts';

/*
 * InteractiveCommands and NonInteractiveCommands sessions (PROTOCOL.md §7.2, §11.3–§11.5)
 * driven by a codec-only client.
 */

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];
const TARGET = 'i-0123456789abcdef0';
const NON_INTERACTIVE = 'AWS-StartNonInteractiveCommand';

async function simulator(t: TestContext, options: Parameters<typeof startSimulator>[0] = {}): Promise<Simulator> {
  const sim = await startSimulator({ shellDelayMs: 50, ...options });
  t.teardown(() => sim.close());
  return sim;
}

async function open(
  t: TestContext,
  sim: Simulator,
  body: Record<string, unknown>,
  options: Parameters<typeof startAndOpen>[2] = {},
) {
  const opened = await startAndOpen(sim.endpoint, { Target: TARGET, ...body }, options);
  t.teardown(() => opened.client.close());
  return opened;
}

function nonInteractive(command: string, extra: Record<string, string[]> = {}) {
  return { DocumentName: NON_INTERACTIVE, Parameters: { command: [command], ...extra } };
}

t.test('InteractiveCommands: no handshake, the command runs in a pty, input and resize work', async (t) => {
  const sim = await simulator(t);
  const { client, sessionId } = await open(t, sim, {
    DocumentName: 'AWS-StartInteractiveCommand',
    Parameters: { command: ['tty; stty size; read -r line; echo "got:$line"; exit 3'] },
  });
  await client.untilText(/\/dev\/pts\/\d+\r\n24 80\r\n/);
  const first = client.frames('output_stream_data')[0];
  t.equal(first?.payloadType, 1, 'no handshake: the first frame is output');
  t.equal(first?.flags, 1);
  client.input('hello\r');
  await client.closed;
  t.match(client.text(), /hello\r\ngot:hello\r\n/, 'echo comes from the pty');
  t.equal(client.channelClosed()?.Output, '', 'the command ending ends the session normally');
  t.equal(sim.sessions.get(sessionId)?.agent.sessionType, 'InteractiveCommands');
});

t.test('NonInteractiveCommands without separate streams: one combined stream after exit', async (t) => {
  const sim = await simulator(t);
  const { client } = await open(
    t,
    sim,
    nonInteractive('echo one; echo two >&2; sleep 0.6; echo three; echo four >&2; exit 5'),
  );
  await client.until(() => client.handshakeRequest, 'HandshakeRequest');
  t.same(client.handshakeRequest.RequestedClientActions, [
    { ActionType: 'SessionType', ActionParameters: { SessionType: 'NonInteractiveCommands', Properties: null } },
  ]);
  await client.until(() => client.handshakeComplete, 'HandshakeComplete');
  t.equal(client.handshakeComplete.CustomerMessage, '');
  const completedAt = client.received.find((r) => r.frame?.payloadType === 7)?.at ?? 0;
  client.input('ignored input\r\n'); // discarded, not a signal
  await client.until(() => client.payloads.some((p) => p.payloadType === 1), 'output');
  const firstOutputAt = client.received.find((r) => r.frame?.payloadType === 1)?.at ?? 0;
  t.ok(firstOutputAt - completedAt >= 400, `output only after the process exited (${firstOutputAt - completedAt} ms)`);
  await client.closed;
  t.equal(client.text(1), 'one\ntwo\nthree\nfour\n', 'stdout and stderr interleaved in one file');
  t.same(
    client.payloads.map((p) => p.payloadType).filter((type) => type !== 1),
    [5, 7],
    'no StdErr or ExitCode frames',
  );
  t.equal(client.channelClosed()?.Output, '');
});

t.test('NonInteractiveCommands with separate streams, prefixes and EXIT_CODE', async (t) => {
  const sim = await simulator(t);
  const script = "printf 'a\\nb'; sleep 0.4; printf 'c\\n'; sleep 0.4; printf 'd'; printf 'E1\\n' >&2; sleep 0.4; printf 'E2' >&2; exit 3";
  const { client } = await open(
    t,
    sim,
    nonInteractive(script, {
      separateOutputStream: ['true'],
      stdOutSeparatorPrefix: ['OUT:'],
      stdErrSeparatorPrefix: ['ERR:'],
    }),
  );
  await client.closed;
  const chunks = (type: number) =>
    client.payloads.filter((p) => p.payloadType === type).map((p) => p.data?.toString());
  t.same(chunks(1), ['OUT:a\nb', 'c\n', 'OUT:d'], 'prefix on the first chunk and after a chunk ending in \\n');
  t.same(chunks(11), ['ERR:E1\n', 'ERR:E2']);
  t.same(chunks(12), ['EXIT_CODE: 3']);
  const last = client.payloads.at(-1);
  t.equal(last?.payloadType, 12, 'EXIT_CODE comes last');
  t.equal(client.handshakeComplete.CustomerMessage, '');
  t.equal(client.channelClosed()?.Output, '');
});

t.test('separateOutputStream must be exactly "true"; no prefixes by default', async (t) => {
  const sim = await simulator(t);
  const { client } = await open(t, sim, nonInteractive('echo x; echo y >&2', { separateOutputStream: ['true'] }));
  await client.closed;
  t.equal(client.text(1), 'x\n');
  t.equal(client.text(11), 'y\n');
  t.equal(client.text(12), 'EXIT_CODE: 0');
  const other = await open(t, sim, nonInteractive('echo x; echo y >&2', { separateOutputStream: ['yes'] }));
  await other.client.closed;
  t.equal(other.client.text(1), 'x\ny\n');
  t.equal(other.client.text(11, 12), '');
});

t.test('input bytes 0x03 and 0x1c become SIGINT and SIGQUIT; everything else is discarded', async (t) => {
  const sim = await simulator(t);
  const script =
    "trap 'echo got-int; n=$((n+1))' INT; trap 'echo got-quit; exit 9' QUIT; n=0; " +
    'echo ready; while true; do sleep 0.05; done';
  const { client, sessionId } = await open(t, sim, nonInteractive(script, { separateOutputStream: ['true'] }));
  await client.untilText(/ready\n/);
  client.input('abc\u0003def');
  await client.untilText(/got-int\n/);
  client.input('\u001c');
  await client.closed;
  t.equal(client.text(1), 'ready\ngot-int\ngot-quit\n');
  t.equal(client.text(12), 'EXIT_CODE: 9');
  const plugin = sim.sessions.get(sessionId)?.agent.sessionPlugin as unknown as { signalsSent: string[] };
  t.same(plugin.signalsSent, ['SIGINT', 'SIGQUIT']);
});

t.test('a process killed by a signal reports EXIT_CODE: -1', async (t) => {
  const sim = await simulator(t);
  const { client } = await open(t, sim, nonInteractive('echo go; exec sleep 30', { separateOutputStream: ['true'] }));
  await client.untilText(/go\n/);
  client.input('\u0003');
  await client.closed;
  t.equal(client.text(12), 'EXIT_CODE: -1');
});

t.test('update notice for clients at or below 1.2.295 with separate streams (§11.3)', async (t) => {
  const sim = await simulator(t);
  const cases: Array<[string, boolean, string]> = [
    ['1.2.295.0', true, SEPARATE_STREAMS_UPDATE_NOTICE],
    ['1.2.295', true, SEPARATE_STREAMS_UPDATE_NOTICE],
    ['1.1.61.0', true, SEPARATE_STREAMS_UPDATE_NOTICE],
    ['1.2.296.0', true, ''],
    ['1.2.295.0', false, ''],
  ];
  for (const [version, separate, message] of cases) {
    const { client } = await open(
      t,
      sim,
      nonInteractive('true', separate ? { separateOutputStream: ['true'] } : {}),
      { clientVersion: version },
    );
    await client.closed;
    t.equal(client.handshakeComplete.CustomerMessage, message, `${version} separate=${separate}`);
  }
  t.ok(SEPARATE_STREAMS_UPDATE_NOTICE.endsWith('\r\n'));
});

t.test('a command that cannot start: EXIT_CODE: 1, then about 1 s later the error on StdErr', async (t) => {
  const sim = await simulator(t, { commandShellPath: '/nonexistent/bash' });
  const { client } = await open(t, sim, nonInteractive('echo hi', { separateOutputStream: ['true'] }));
  await client.closed;
  t.same(
    client.payloads.filter((p) => p.payloadType >= 11).map((p) => [p.payloadType, p.data?.toString()]),
    [
      [12, 'EXIT_CODE: 1'],
      [11, 'fork/exec /nonexistent/bash: no such file or directory'],
    ],
  );
  const at = (type: number) => client.received.find((r) => r.frame?.payloadType === type)?.at ?? 0;
  const gap = at(11) - at(12);
  t.ok(gap >= 900 && gap < 2000, `StdErr ${gap} ms after EXIT_CODE`);
  t.equal(client.channelClosed()?.Output, '');

  const combined = await open(t, sim, nonInteractive('echo hi'));
  await combined.client.closed;
  t.equal(combined.client.text(1), 'fork/exec /nonexistent/bash: no such file or directory');
});

t.test('output chunking: at most 1024 bytes (+prefix) per frame, nothing empty', async (t) => {
  const sim = await simulator(t);
  const big = "head -c 5000 /dev/zero | tr '\\0' a; head -c 3000 /dev/zero | tr '\\0' b >&2";
  const combined = await open(t, sim, nonInteractive(big));
  await combined.client.closed;
  const sizes = combined.client.payloads.filter((p) => p.payloadType === 1).map((p) => p.data?.length ?? 0);
  t.same(sizes, [1024, 1024, 1024, 1024, 1024, 1024, 1024, 832]);
  const separate = await open(t, sim, nonInteractive(big, { separateOutputStream: ['true'], stdOutSeparatorPrefix: ['P'] }));
  await separate.client.closed;
  t.equal(separate.client.text(1), `P${'a'.repeat(5000)}`);
  t.equal(separate.client.text(11), 'b'.repeat(3000));
  t.ok(separate.client.payloads.every((p) => (p.data?.length ?? 0) > 0 && (p.data?.length ?? 0) <= 1025));
});

t.test('TerminateSession stops a running command', async (t) => {
  const sim = await simulator(t);
  const { client, sessionId } = await open(t, sim, nonInteractive('echo started; sleep 30', { separateOutputStream: ['true'] }));
  await client.untilText(/started\n/);
  const pid = (sim.sessions.get(sessionId)?.agent.sessionPlugin as unknown as { pid: number }).pid;
  await callTarget(sim.endpoint, 'AmazonSSM.TerminateSession', { SessionId: sessionId });
  await client.closed;
  await sleep(100);
  t.throws(() => process.kill(pid, 0), 'the process is gone');
  t.equal(client.text(12), '', 'no EXIT_CODE after a termination');
});

t.test('document parameters are validated', async (t) => {
  const sim = await simulator(t);
  const start = (body: Record<string, unknown>) => callTarget(sim.endpoint, 'AmazonSSM.StartSession', { Target: TARGET, ...body });
  const missing = await start({ DocumentName: NON_INTERACTIVE });
  t.equal(missing.json.__type, 'InvalidParameters');
  const badPrefix = await start(nonInteractive('true', { stdOutSeparatorPrefix: ['no spaces'] }));
  t.equal(badPrefix.json.__type, 'InvalidParameters');
  const longPrefix = await start(nonInteractive('true', { stdErrSeparatorPrefix: ['x'.repeat(31)] }));
  t.equal(longPrefix.json.__type, 'InvalidParameters');
  const unknown = await start({ DocumentName: 'AWS-StartInteractiveCommand', Parameters: { command: ['x'], other: ['y'] } });
  t.equal(unknown.json.__type, 'InvalidParameters');
  const good = await start(nonInteractive('true', { stdOutSeparatorPrefix: ['OK_1:-\n'] }));
  t.equal(good.status, 200);
});
