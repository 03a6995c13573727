import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { remoteCommand } from '../src/client/remote-command.ts';
import { callTarget, startAndOpen } from './helpers/sim-raw-client.ts';
import { waitFor } from './helpers/wait.ts';

/*
 * InteractiveCommands and NonInteractiveCommands sessions (PROTOCOL.md §7.2, §11.3–§11.5)
 * driven by a codec-only client, against what the agent does: agent/session/shell/shell.go
 * and shell_unix.go (how commands are started, read and ended), sessionplugin.go (before
 * the handshake) and datachannel.go (the HandshakeComplete notice).
 */

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];
const TARGET = 'i-0123456789abcdef0';
const NON_INTERACTIVE = 'AWS-StartNonInteractiveCommand';
/** datachannel.go, buildHandshakeCompletePayload: the agent's words, as a literal. */
const UPDATE_NOTICE =
  'Please update session manager plugin version (minimum required version 1.2.312.0) for fully support of separate StdOut/StdErr output.\r\n';

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

/** A shell script as a command the agent runs through `sh -c` (it splits commands itself). */
const sh = (script: string) => remoteCommand(script, 'Linux');

t.test('InteractiveCommands on an instance: `sh -c` in a pty, no handshake, input and resize work', async (t) => {
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

t.test('NonInteractiveCommands execute the words, not a shell (shell_unix.go, StartCommandExecutor)', async (t) => {
  const sim = await simulator(t);
  const { client } = await open(
    t,
    sim,
    nonInteractive(`echo 'two  spaces' "q\\"uote" $HOME && exit 7 >&2 a#b # a comment`, { separateOutputStream: ['true'] }),
  );
  await client.closed;
  t.equal(client.text(1), 'two  spaces q"uote $HOME && exit 7 >&2 a#b\n', 'echo got the shlex words, nothing expanded');
  t.equal(client.text(11), '');
  t.equal(client.text(12), 'EXIT_CODE: 0', 'echo succeeded; `exit 7` was just two more words');

  const empty = await open(t, sim, nonInteractive('  \t ', { separateOutputStream: ['true'] }));
  await empty.client.closed;
  t.equal(empty.client.text(1, 11), '', 'a blank command runs `sh` with no input, which does nothing');
  t.equal(empty.client.text(12), 'EXIT_CODE: 0');

  const wrapped = await open(t, sim, nonInteractive(sh('cd / && echo "$0 in $(pwd)"; echo err >&2; exit 7'), { separateOutputStream: ['true'] }));
  await wrapped.client.closed;
  t.equal(wrapped.client.text(1), 'sh in /\n', 'through `sh -c` the shell does its work');
  t.equal(wrapped.client.text(11), 'err\n');
  t.equal(wrapped.client.text(12), 'EXIT_CODE: 7');
});

t.test('NonInteractiveCommands without separate streams: one combined stream after exit', async (t) => {
  const sim = await simulator(t);
  const { client } = await open(t, sim, nonInteractive(sh('echo one; echo two >&2; sleep 0.6; echo three; echo four >&2; exit 5')));
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

t.test('command output has no initial delay: writePump(…, 0) and the pipe readers start at once', async (t) => {
  // A shell's 1 s delay set to a minute: a command's output must not wait for it.
  const sim = await simulator(t, { shellDelayMs: 60_000 });
  for (const separate of [false, true]) {
    const { client } = await open(t, sim, nonInteractive('echo prompt', separate ? { separateOutputStream: ['true'] } : {}));
    await client.closed;
    t.equal(client.text(1), 'prompt\n', `separate=${separate}`);
  }
});

t.test('NonInteractiveCommands with separate streams, prefixes and EXIT_CODE', async (t) => {
  const sim = await simulator(t);
  const script = "printf 'a\\nb'; sleep 0.4; printf 'c\\n'; sleep 0.4; printf 'd'; printf 'E1\\n' >&2; sleep 0.4; printf 'E2' >&2; exit 3";
  const { client } = await open(
    t,
    sim,
    nonInteractive(sh(script), {
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

t.test('separateOutputStream is read with strconv.ParseBool (parameters.go, ConvertToBool)', async (t) => {
  const sim = await simulator(t);
  const command = sh('echo x; echo y >&2');
  for (const value of ['true', 'True', 'TRUE', 't', 'T', '1']) {
    const { client } = await open(t, sim, nonInteractive(command, { separateOutputStream: [value] }));
    await client.closed;
    t.same([client.text(1), client.text(11), client.text(12)], ['x\n', 'y\n', 'EXIT_CODE: 0'], `${value}: separate`);
  }
  for (const value of ['false', 'False', 'FALSE', 'f', 'F', '0', '']) {
    const { client } = await open(t, sim, nonInteractive(command, { separateOutputStream: [value] }));
    await client.closed;
    t.same([client.text(1), client.text(11, 12)], ['x\ny\n', ''], `${JSON.stringify(value)}: combined`);
  }
  // Anything else fails the session before the handshake (sessionplugin.go, Execute).
  const { client } = await open(t, sim, nonInteractive(command, { separateOutputStream: ['yes'] }));
  await client.closed;
  t.equal(client.handshakeRequest, undefined, 'no handshake');
  t.equal(client.text(1, 11, 12), '');
  t.equal(
    client.channelClosed()?.Output,
    'Fail to get separateOutPutStream property: unable to convert separateOutPutStream: invalid input strconv.ParseBool: parsing "yes": invalid syntax',
  );
});

t.test('the first 0x03 or 0x1c of a payload signals the process; the input handler then waits for it (shell_unix.go)', async (t) => {
  const sim = await simulator(t);
  const script = "trap 'echo got-quit; sleep 0.3; exit 9' QUIT; trap 'echo got-int' INT; echo ready; while :; do sleep 0.05; done";
  const { client, sessionId } = await open(t, sim, nonInteractive(sh(script), { separateOutputStream: ['true'] }));
  await client.untilText(/ready\n/);
  const signalSeq = client.nextSeq;
  client.input('abc\u001cdef\u0003'); // only the first control byte counts: SIGQUIT
  await client.untilText(/got-quit\n/);
  // An ack would have been sent before the signal's output: there is none.
  t.equal(client.acksFor(signalSeq).length, 0, 'the signal frame is not acked while the process runs');
  t.ok(sim.sessions.get(sessionId)?.agent.channel.inputHeld, 'the read loop waits in the handler');
  const laterSeq = client.nextSeq;
  client.input('late input');
  await client.closed;
  t.ok(client.acksFor(signalSeq).length > 0, 'the signal frame is acked once the process has exited');
  t.ok(client.acksFor(laterSeq).length > 0, 'and input queued behind it is taken then');
  // The handler's deferred Wait took the exit status; the plugin's own Wait then fails
  // ("Wait was already called"), which it reports as 1.
  t.equal(client.text(12), 'EXIT_CODE: 1', 'not 9');
  const plugin = sim.sessions.get(sessionId)?.agent.sessionPlugin as unknown as { signalsSent: string[] };
  t.same(plugin.signalsSent, ['SIGQUIT']);
});

t.test('exit codes: a command killed by a signal is -1 (ExitCode()), a signal sent through input is 1', async (t) => {
  const sim = await simulator(t);
  const killed = await open(t, sim, nonInteractive(sh('echo go; exec sleep 30'), { separateOutputStream: ['true'] }));
  await killed.client.untilText(/go\n/);
  const pid = (sim.sessions.get(killed.sessionId)?.agent.sessionPlugin as unknown as { pid: number }).pid;
  process.kill(pid, 'SIGKILL');
  await killed.client.closed;
  t.equal(killed.client.text(12), 'EXIT_CODE: -1');

  const interrupted = await open(t, sim, nonInteractive(sh('echo go; exec sleep 30'), { separateOutputStream: ['true'] }));
  await interrupted.client.untilText(/go\n/);
  interrupted.client.input('\u0003');
  await interrupted.client.closed;
  t.equal(interrupted.client.text(12), 'EXIT_CODE: 1');
});

t.test('update notice for clients at or below 1.2.295 with separate streams (datachannel.go, versionutil.Compare)', async (t) => {
  const sim = await simulator(t);
  const cases: Array<[string, boolean, string]> = [
    ['1.2.295', true, UPDATE_NOTICE],
    ['1.1.61.0', true, UPDATE_NOTICE],
    ['1.2.294.9', true, UPDATE_NOTICE],
    ['', true, UPDATE_NOTICE],
    // Not semver on one side: part by part, and then the longer version is greater.
    ['1.2.295.0', true, ''],
    ['1.2.296.0', true, ''],
    // "garbage" compares as text with "1": greater.
    ['garbage', true, ''],
    ['1.2.295', false, ''],
  ];
  for (const [version, separate, message] of cases) {
    const { client } = await open(t, sim, nonInteractive('true', separate ? { separateOutputStream: ['true'] } : {}), {
      clientVersion: version,
    });
    await client.closed;
    t.equal(client.handshakeComplete.CustomerMessage, message, `${JSON.stringify(version)} separate=${separate}`);
  }
});

t.test('a command that cannot start: EXIT_CODE: 1, then about 1 s later the error as StdErr (shell.go)', async (t) => {
  const sim = await simulator(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'sim-cmd-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plain = path.join(dir, 'plain.txt');
  writeFileSync(plain, 'not a program\n', { mode: 0o644 });
  const noShebang = path.join(dir, 'no-shebang');
  writeFileSync(noShebang, 'echo hi\n', { mode: 0o755 });
  const cases: Array<[string, string]> = [
    ['no-such-command-xyz --flag', 'exec: "no-such-command-xyz": executable file not found in $PATH'],
    ['/nonexistent/bin/tool', 'fork/exec /nonexistent/bin/tool: no such file or directory'],
    [plain, `fork/exec ${plain}: permission denied`],
    [noShebang, `fork/exec ${noShebang}: exec format error`],
  ];
  for (const [command, error] of cases) {
    const { client } = await open(t, sim, nonInteractive(command, { separateOutputStream: ['true'] }));
    await client.closed;
    t.same(
      client.payloads.filter((p) => p.payloadType >= 11).map((p) => [p.payloadType, p.data?.toString()]),
      [
        [12, 'EXIT_CODE: 1'],
        [11, error],
      ],
      command,
    );
    const at = (type: number) => client.received.find((r) => r.frame?.payloadType === type)?.at ?? 0;
    const gap = at(11) - at(12);
    t.ok(gap >= 900 && gap < 2000, `StdErr ${gap} ms after EXIT_CODE`);
    t.equal(client.channelClosed()?.Output, '', 'the agent reports Terminating first: a normal channel_closed');
  }
  // Without separate streams the error is StdErr too, and there is no exit code (§2.1 of issue 10).
  const combined = await open(t, sim, nonInteractive('no-such-command-xyz'));
  await combined.client.closed;
  t.equal(combined.client.text(11), 'exec: "no-such-command-xyz": executable file not found in $PATH');
  t.equal(combined.client.text(1, 12), '');
});

t.test('a command that does not split: after 2 + 1 s the error as StdErr, and the session fails', async (t) => {
  const sim = await simulator(t);
  const { client } = await open(t, sim, nonInteractive("echo 'unclosed", { separateOutputStream: ['true'] }));
  await client.until(() => client.handshakeComplete, 'HandshakeComplete');
  const completedAt = Date.now();
  await client.closed;
  const text = 'Unable to start command: Failed to parse commands input: EOF found when expecting closing quote\n\n';
  t.equal(client.text(11), text);
  t.equal(client.text(1, 12), '', 'no output, no exit code');
  const stderrAt = client.received.find((r) => r.frame?.payloadType === 11)?.at ?? 0;
  t.ok(stderrAt - completedAt >= 2800, `StdErr ${stderrAt - completedAt} ms after the handshake`);
  t.equal(client.channelClosed()?.Output, text, 'no Terminating: the failure text reaches channel_closed');
});

t.test('output chunking: at most 1024 bytes per frame, the prefix included; nothing empty', async (t) => {
  const sim = await simulator(t);
  const big = sh("head -c 5000 /dev/zero | tr '\\0' a; head -c 3000 /dev/zero | tr '\\0' b >&2");
  const combined = await open(t, sim, nonInteractive(big));
  await combined.client.closed;
  const sizes = combined.client.payloads.filter((p) => p.payloadType === 1).map((p) => p.data?.length ?? 0);
  t.same(sizes, [1024, 1024, 1024, 1024, 1024, 1024, 1024, 832]);
  // shell.go reads 1024 minus the prefix's length, so a prefixed chunk still fits 1024.
  const separate = await open(t, sim, nonInteractive(big, { separateOutputStream: ['true'], stdOutSeparatorPrefix: ['PREFIX'] }));
  await separate.client.closed;
  t.equal(separate.client.text(1), `PREFIX${'a'.repeat(5000)}`);
  t.equal(separate.client.text(11), 'b'.repeat(3000));
  const out = separate.client.payloads.filter((p) => p.payloadType === 1).map((p) => p.data?.length ?? 0);
  t.equal(out[0], 1024, 'the first chunk: 6 bytes of prefix and 1018 of output');
  t.ok(separate.client.payloads.every((p) => (p.data?.length ?? 0) > 0 && (p.data?.length ?? 0) <= 1024));
});

t.test('a pause during separate-stream output: the reader gives up and the exit code is lost (shell.go)', async (t) => {
  const sim = await simulator(t);
  const { client, sessionId } = await open(
    t,
    sim,
    nonInteractive(sh('printf first; sleep 0.5; printf second; exit 3'), { separateOutputStream: ['true'] }),
  );
  await client.untilText(/^first$/);
  // Any ack or input unpauses the agent (datachannel.go): pause once the client has acked.
  const agent = sim.sessions.get(sessionId)?.agent;
  await client.until(() => agent?.channel.unackedCount === 0, 'the ack of the first output');
  sim.publish(sessionId, 'toAgent', 'pause'); // the service pauses the agent (e.g. no client attached)
  await client.closed;
  t.equal(client.text(1), 'first', 'what was read while paused is never delivered');
  t.equal(client.text(12), '', 'no EXIT_CODE: the data channel was not active');
  t.equal(client.channelClosed()?.Output, '');
  t.equal(agent?.result?.status, 'failed', 'the task result is failed');
});

t.test('TerminateSession stops a running command', async (t) => {
  const sim = await simulator(t);
  const { client, sessionId } = await open(t, sim, nonInteractive(sh('echo started; sleep 30'), { separateOutputStream: ['true'] }));
  await client.untilText(/started\n/);
  const pid = (sim.sessions.get(sessionId)?.agent.sessionPlugin as unknown as { pid: number }).pid;
  await callTarget(sim.endpoint, 'AmazonSSM.TerminateSession', { SessionId: sessionId });
  await client.closed;
  const gone = () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  await waitFor(gone, { timeoutMs: 5000, what: `process ${pid} to end` });
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
