// End to end: the real AWS CLI, v1 and v2 (and direct ECS-style invocations), drive the
// built single binary `dist/session-manager-plugin` against the local simulator, over
// HTTPS and wss:// (the simulator's throwaway CA in AWS_CA_BUNDLE). All traffic stays on
// 127.0.0.1: explicit --endpoint-url / SDK endpoint, fake credentials in the environment,
// instance metadata disabled, empty AWS config files.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { spawn as spawnPty } from 'node-pty';
import { MessageType, PayloadType } from '../src/protocol/constants.ts';
import { decodeFrame, type Frame } from '../src/protocol/frame.ts';
import type { Simulator } from '../src/simulator/index.ts';
import { awsClis, PLUGIN_BINARY, REGION, requireAwsCli, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import {
  allCommandLines,
  commandLine,
  descendants,
  isAlive,
  killAll,
  start,
  type RunResult,
} from './helpers/processes.ts';
import { printable, waitFor } from './helpers/wait.ts';
import { ENV_NAME, sdkStartSession, TARGET } from './helpers/port-session.ts';
import { prerequisites } from './helpers/port-e2e.ts';
import { withSandbox, withSimulator } from './helpers/plugin-fixtures.ts';

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

const PROMPT = /sh-\d+\.\d+[$#] /;

/** Sequenced frames of one session and direction in the simulator's wire log, decoded. */
function wireFrames(sim: Simulator, sessionId: string, direction: 'toAgent' | 'toClient'): Frame[] {
  const frames: Frame[] = [];
  for (const entry of sim.frameLog) {
    if (entry.sessionId !== sessionId || entry.direction !== direction) continue;
    try {
      frames.push(decodeFrame(entry.frame, { verifyDigest: false }));
    } catch {
      // not a frame we can read; irrelevant here
    }
  }
  return frames;
}

/** Size payloads the plugin sent for a session, in order. */
function sizeFrames(sim: Simulator, sessionId: string): Array<{ cols: number; rows: number }> {
  return wireFrames(sim, sessionId, 'toAgent')
    .filter((f) => f.messageType === MessageType.InputStreamData && f.payloadType === PayloadType.Size)
    .map((f) => {
      try {
        return JSON.parse(f.payload.toString()) as { cols: number; rows: number };
      } catch {
        return { cols: -1, rows: -1, unreadable: f.payload.toString() };
      }
    });
}

function readLog(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** A 127.0.0.1 port with nothing listening on it (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function describeRun(result: RunResult): string {
  return (
    `exit ${result.code} signal ${result.signal} after ${result.durationMs} ms${result.timedOut ? ' (KILLED AT DEADLINE)' : ''}\n` +
    `--- stdout ---\n${printable(result.stdout.toString('utf8'))}\n--- stderr ---\n${printable(result.stderr.toString('utf8'))}`
  );
}

// ---------------------------------------------------------------------------------------
// 1. aws ssm start-session in a real pty
// ---------------------------------------------------------------------------------------

for (const cli of awsClis()) t.test(`${cli.label} ssm start-session in a pty: typing, resize, Ctrl-C, exit; the token's path`, async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const aws = requireAwsCli(t, cli);
  if (!aws) return;
  const sim = await withSimulator(t, { tls: true }); // default agent timing: 1 s before the first output
  const sandbox = withSandbox(t);
  const logFile = sandbox.logPath('pty-session.log');

  const pty = spawnPty(
    aws,
    ['ssm', 'start-session', '--endpoint-url', sim.httpsEndpoint!, '--region', REGION, '--target', TARGET],
    {
      name: 'xterm-256color',
      cols: 120,
      rows: 40,
      cwd: sandbox.dir,
      env: sandbox.env({ SESSION_MANAGER_PLUGIN_LOG: logFile }) as Record<string, string>,
    },
  );
  let screen = '';
  let exit: { exitCode: number; signal?: number } | undefined;
  const exited = new Promise<void>((resolve) => {
    pty.onExit((event) => {
      exit = event;
      resolve();
    });
  });
  pty.onData((data) => {
    screen += data;
  });
  t.teardown(async () => {
    if (exit) return;
    killAll([pty.pid, ...descendants(pty.pid)]);
    await exited;
  });

  const until = <T>(what: string, condition: () => T | undefined | null | false, timeoutMs = 15_000) =>
    waitFor(condition, {
      what,
      timeoutMs,
      context: () => printable(screen),
      abort: () => (exit ? `aws exited (${JSON.stringify(exit)})` : undefined),
    });
  /** Waits for `pattern` in what the pty printed after `from`. */
  const screenAfter = (from: number, pattern: RegExp, what: string, timeoutMs?: number) =>
    until(what, () => pattern.exec(screen.slice(from)), timeoutMs);

  const sessionId = (await screenAfter(0, /\nStarting session with SessionId: (\S+)\r?\n/, 'the start banner'))[1]!;
  const session = sim.sessions.get(sessionId);
  t.ok(session, `the banner names a simulator session (${sessionId})`);
  const token = session!.token;
  await screenAfter(0, PROMPT, 'the remote prompt');

  const pluginPid = await until('the plugin process under aws', () =>
    descendants(pty.pid).find((pid) => {
      const argv = commandLine(pid);
      return argv !== undefined && path.basename(argv[0] ?? '') === 'session-manager-plugin' && argv[1] !== '--version';
    }),
  );
  const argv = commandLine(pluginPid) ?? [];
  t.equal(argv.length, 7, `the plugin got 6 arguments: ${JSON.stringify(argv.slice(1))}`);
  if (cli.responseVia === 'env') {
    // The env-var path: the plugin's argv names the variable, never the token.
    t.equal(argv[1], ENV_NAME, 'argv[1] is the environment variable name');
    t.notOk(argv.join(' ').includes(token), 'the token is not in the plugin argv');
    const leaking = allCommandLines().filter((p) => p.argv.join(' ').includes(token));
    t.same(leaking.map((p) => p.pid), [], 'no process on the machine shows the token in its command line (ps)');
  } else {
    // Older CLIs put the whole response in argv[1] (the token shows in `ps`: their choice).
    t.match(JSON.parse(argv[1] ?? 'null'), { SessionId: sessionId, TokenValue: token }, 'argv[1] is the StartSession response');
  }
  t.equal(argv[2], REGION, 'argv[2] is the region');
  t.equal(argv[3], 'StartSession', 'argv[3] is the operation');
  t.equal(argv[4], '', 'argv[4] is the (empty) profile');
  t.same(JSON.parse(argv[5] ?? 'null'), { Target: TARGET }, 'argv[5] is the request parameters JSON');
  t.equal(argv[6], sim.httpsEndpoint, 'argv[6] is the --endpoint-url');

  const startCalls = sim.apiCalls.filter((c) => c.operation === 'StartSession');
  t.equal(startCalls.length, 1, 'the CLI made one StartSession call to the simulator');
  t.match(startCalls[0]?.body, { Target: TARGET }, 'with the target');
  const opens = sim.openDataChannelMessages.filter((r) => r.sessionId === sessionId);
  t.equal(opens.length, 1, 'one OpenDataChannel for the session');
  t.equal(opens[0]?.message?.TokenValue, token, "OpenDataChannel's TokenValue is the session's token");
  t.equal(opens[0]?.accepted, true, 'the gateway accepted it');
  t.equal(opens[0]?.secure, true, 'over TLS (wss://)');

  const initialSize = await until('the first Size frame', () => sizeFrames(sim, sessionId)[0]);
  t.same(initialSize, { cols: 120, rows: 40 }, 'first Size frame is the pty size');

  // Typing reaches the remote shell; its output (not the echo) comes back.
  let mark = screen.length;
  pty.write('echo $((6*7))-marker\r');
  await screenAfter(mark, /42-marker/, 'the output 42-marker');

  // Resize: the plugin sends a Size frame and the remote pty follows.
  pty.resize(100, 30);
  await until('a Size frame of 100x30', () =>
    sizeFrames(sim, sessionId).some((s) => s.cols === 100 && s.rows === 30),
  );
  mark = screen.length;
  pty.write('stty size\r');
  await screenAfter(mark, /[\r\n]30 100\r*\n/, '`stty size` to print 30 100');

  // Ctrl-C interrupts the remote command, not the plugin.
  mark = screen.length;
  pty.write('sleep 30\r');
  const sleepPid = await until('the remote `sleep 30` to run', () =>
    descendants(process.pid).find((pid) => (commandLine(pid) ?? []).join(' ') === 'sleep 30'),
  );
  // Everything up to the echoed command line is on screen, so a prompt after this is new.
  await screenAfter(mark, /sleep 30[^\n]*\n/, 'the echo of `sleep 30`');
  const interruptedAt = Date.now();
  mark = screen.length;
  pty.write('\x03');
  await screenAfter(mark, PROMPT, 'the prompt after Ctrl-C', 10_000);
  await until('the remote sleep to end', () => (commandLine(sleepPid) ?? [])[0] !== 'sleep', 10_000);
  t.ok(Date.now() - interruptedAt < 10_000, 'Ctrl-C ended `sleep 30` early');
  const inputs = wireFrames(sim, sessionId, 'toAgent').filter(
    (f) => f.messageType === MessageType.InputStreamData && f.payloadType === PayloadType.Output,
  );
  t.ok(
    inputs.some((f) => f.payload.equals(Buffer.from([0x03]))),
    'Ctrl-C crossed the wire as the byte 0x03 (Output payload)',
  );
  t.ok(isAlive(pluginPid), 'the plugin is still running after Ctrl-C');
  t.equal(exit, undefined, 'aws is still running after Ctrl-C');
  mark = screen.length;
  pty.write('echo after-$((2+3))\r');
  await screenAfter(mark, /after-5/, 'the session to keep working after Ctrl-C');

  mark = screen.length;
  pty.write('exit\r');
  await screenAfter(mark, new RegExp(`Exiting session with sessionId: ${sessionId}\\.`), 'the exit message');
  await until('aws to exit', () => exit, 15_000);
  t.equal(exit?.exitCode, 0, 'aws exits 0');
  t.notOk(isAlive(pluginPid) && (commandLine(pluginPid) ?? []).length > 0, 'the plugin process is gone');
  t.notOk(screen.includes(token), 'the token never appeared on the terminal');
  t.notOk(readLog(logFile).includes(token), 'the token is not in the debug log');
});

// ---------------------------------------------------------------------------------------
// 2. aws ssm start-session with piped stdin
// ---------------------------------------------------------------------------------------

for (const cli of awsClis()) t.test(`${cli.label} ssm start-session with piped (non-TTY) stdin ends by itself`, async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const aws = requireAwsCli(t, cli);
  if (!aws) return;
  const sim = await withSimulator(t, { tls: true });
  const sandbox = withSandbox(t);
  const logFile = sandbox.logPath('piped.log');
  const run = start(
    aws,
    ['ssm', 'start-session', '--endpoint-url', sim.httpsEndpoint!, '--region', REGION, '--target', TARGET],
    { env: sandbox.env({ SESSION_MANAGER_PLUGIN_LOG: logFile }), input: 'echo hi-$((1+1))\nexit\n', timeoutMs: 25_000 },
  );
  t.teardown(() => run.kill());
  const result = await run.result;
  const stdout = result.stdout.toString('utf8');
  const stderr = result.stderr.toString('utf8');
  t.notOk(result.timedOut, 'ends by itself within 25 s', { run: describeRun(result) });
  t.equal(result.code, 0, 'aws exits 0', { run: describeRun(result) });
  const sessionId = /Starting session with SessionId: (\S+)\n/.exec(stdout)?.[1];
  t.ok(sessionId, 'prints the start banner');
  t.match(stdout, /[\r\n]hi-2\r*\n/, 'the command output arrives (hi-2, not just the echo)');
  t.ok(stdout.endsWith(`\n\nExiting session with sessionId: ${sessionId}.\n\n`), 'ends with the exit message');
  t.equal(stderr, '', 'nothing on stderr');
  const token = sessionId ? sim.sessions.get(sessionId)?.token : undefined;
  t.ok(token, 'the session exists in the simulator');
  if (token) {
    t.notOk(stdout.includes(token) || stderr.includes(token), 'the token is not printed');
    const opens = sim.openDataChannelMessages.filter((r) => r.sessionId === sessionId);
    t.equal(opens[0]?.message?.TokenValue, token, 'OpenDataChannel carried the token');
    t.equal(opens[0]?.secure, true, 'over TLS (wss://)');
  }
  t.match(readLog(logFile), /stdin ended/, 'the debug log records the end of stdin');
});

t.test('piped stdin without `exit`: EOF sends Ctrl-D, the remote shell ends the session', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const aws = requireAwsCli(t, awsClis()[0]!);
  if (!aws) return;
  const sim = await withSimulator(t, { shellDelayMs: 50, tls: true });
  const sandbox = withSandbox(t);
  const run = start(
    aws,
    ['ssm', 'start-session', '--endpoint-url', sim.httpsEndpoint!, '--region', REGION, '--target', TARGET],
    { env: sandbox.env(), input: 'echo eot-$((2*4))\n', timeoutMs: 20_000 },
  );
  t.teardown(() => run.kill());
  const result = await run.result;
  const stdout = result.stdout.toString('utf8');
  t.notOk(result.timedOut, 'ends by itself within 20 s', { run: describeRun(result) });
  t.equal(result.code, 0, 'aws exits 0', { run: describeRun(result) });
  t.match(stdout, /[\r\n]eot-8\r*\n/, 'the command output arrives before the end');
  const sessionId = /Starting session with SessionId: (\S+)\n/.exec(stdout)?.[1] ?? '';
  t.ok(stdout.endsWith(`\n\nExiting session with sessionId: ${sessionId}.\n\n`), 'ends with the exit message');
  const inputs = wireFrames(sim, sessionId, 'toAgent').filter(
    (f) => f.messageType === MessageType.InputStreamData && f.payloadType === PayloadType.Output,
  );
  t.ok(inputs.at(-1)?.payload.equals(Buffer.from([0x04])), 'the last input frame is a lone 0x04 (Ctrl-D)');
});

// ---------------------------------------------------------------------------------------
// 3. ECS-style invocation (camelCase JSON in argv[1], no env var)
// ---------------------------------------------------------------------------------------

t.test('ECS-style invocation: camelCase JSON in argv', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const sim = await withSimulator(t, { shellDelayMs: 50 });
  const sandbox = withSandbox(t);
  const ecsTarget = 'ecs:cluster_task_runtime';
  const response = await sdkStartSession(sim, { Target: ecsTarget });
  const sessionJson = JSON.stringify({
    sessionId: response.SessionId,
    streamUrl: response.StreamUrl,
    tokenValue: response.TokenValue,
  });
  const run = start(
    PLUGIN_BINARY,
    [sessionJson, REGION, 'StartSession', '', JSON.stringify({ Target: ecsTarget }), sim.endpoint],
    { env: sandbox.env(), input: 'echo ecs-ok\nexit\n', timeoutMs: 20_000 },
  );
  t.teardown(() => run.kill());
  const result = await run.result;
  const stdout = result.stdout.toString('utf8');
  t.notOk(result.timedOut, 'ends by itself', { run: describeRun(result) });
  t.equal(result.code, 0, 'exits 0', { run: describeRun(result) });
  t.ok(stdout.startsWith(`\nStarting session with SessionId: ${response.SessionId}\n`), 'start banner first');
  t.match(stdout, /[\r\n]ecs-ok\r*\n/, 'the command output arrives');
  t.ok(stdout.endsWith(`\n\nExiting session with sessionId: ${response.SessionId}.\n\n`), 'exit message last');
  t.equal(result.stderr.toString(), '', 'nothing on stderr');
  const opens = sim.openDataChannelMessages.filter((r) => r.sessionId === response.SessionId);
  t.equal(opens[0]?.message?.TokenValue, response.TokenValue, 'camelCase tokenValue was used');
  t.equal(opens[0]?.accepted, true, 'the gateway accepted it');
  t.notOk(stdout.includes(response.TokenValue), 'the token is not printed');
});

// ---------------------------------------------------------------------------------------
// 4. Bad input: one clear line, no hang, exit 0 (argv) / 1 (env var), no token printed
// ---------------------------------------------------------------------------------------

interface BadCase {
  name: string;
  /** The response text (argv[1] or the variable's value). */
  response: string;
  /** argv[5]. */
  parameters?: string;
  /** Secrets that must not be printed. */
  secrets: string[];
  /** Expected (part of) the error reason. */
  reason?: RegExp;
  /** A session the simulator should see refused / attempted. */
  check?: (t: TestContext) => void;
}

/** Starts the plugin for one bad case; stdin stays open (a correct plugin must not need EOF to give up). */
function startBadCase(t: TestContext, sim: Simulator, sandbox: Sandbox, c: BadCase, via: 'argv' | 'env') {
  const logFile = sandbox.logPath(`bad-${c.name.replace(/\W+/g, '-')}-${via}.log`);
  const args = [
    via === 'argv' ? c.response : ENV_NAME,
    REGION,
    'StartSession',
    '',
    c.parameters ?? JSON.stringify({ Target: TARGET }),
    sim.endpoint,
  ];
  const env = sandbox.env({
    SESSION_MANAGER_PLUGIN_LOG: logFile,
    ...(via === 'env' ? { [ENV_NAME]: c.response } : {}),
  });
  const run = start(PLUGIN_BINARY, args, { env, timeoutMs: 15_000 });
  t.teardown(() => run.kill());
  return { logFile, result: run.result };
}

function checkBadCase(t: TestContext, c: BadCase, via: 'argv' | 'env', result: RunResult, logFile: string): void {
  const stdout = result.stdout.toString('utf8');
  const stderr = result.stderr.toString('utf8');
  const label = `${c.name} (${via})`;
  t.notOk(result.timedOut, `${label}: no hang`, { run: describeRun(result) });
  t.equal(result.code, via === 'argv' ? 0 : 1, `${label}: exit status ${via === 'argv' ? 0 : 1}`, { run: describeRun(result) });
  // One error line, ending in a newline. A single blank line before it is tolerated: the
  // plugin separates it from the banner / remote output that may precede it.
  t.match(stderr, /^Cannot perform start session: \S[^\n]*\n$/, `${label}: exactly one error line on stderr`, {
    stderr,
  });
  if (c.reason) t.match(stderr, c.reason, `${label}: the reason`);
  t.notMatch(stdout, /Cannot perform start session/, `${label}: the error is not on stdout`);
  const log = readLog(logFile);
  for (const secret of c.secrets) {
    t.notOk(stdout.includes(secret) || stderr.includes(secret), `${label}: the token is not printed`);
    t.notOk(log.includes(secret), `${label}: the token is not in the debug log`);
  }
}

t.test('bad input', async (t) => {
  if (!prerequisites(t, { aws: false })) return;
  const sim = await withSimulator(t, { shellDelayMs: 50 });
  const sandbox = withSandbox(t);
  const fakeToken = `FAKE-TOKEN-${'x'.repeat(40)}`;
  const fakeUrl = `ws://127.0.0.1:${await closedPort()}/v1/data-channel/sim-0`;

  // Sessions for the cases that reach the network; one per run (argv and env).
  const unreachablePort = await closedPort();
  const unreachable = await Promise.all([sdkStartSession(sim), sdkStartSession(sim)]);
  const refused = await Promise.all([sdkStartSession(sim), sdkStartSession(sim)]);
  const wrongToken = Buffer.from('definitely not the token').toString('base64');

  const cases: Array<{ c: BadCase; via: 'argv' | 'env' }> = [];
  const both = (make: (index: number) => BadCase) => {
    cases.push({ c: make(0), via: 'argv' }, { c: make(1), via: 'env' });
  };
  both(() => ({
    name: 'malformed JSON',
    response: `{"SessionId": "sim-1", "TokenValue": "${fakeToken}", "StreamUrl": "${fakeUrl}"`,
    secrets: [fakeToken],
  }));
  both(() => ({
    name: 'no TokenValue',
    response: JSON.stringify({ SessionId: 'sim-1', StreamUrl: fakeUrl }),
    secrets: [],
    reason: /TokenValue/,
  }));
  both(() => ({
    name: 'argv[5] not JSON',
    response: JSON.stringify({ SessionId: 'sim-1', TokenValue: fakeToken, StreamUrl: fakeUrl }),
    parameters: `{"Target": "${TARGET}"`,
    secrets: [fakeToken],
  }));
  both((i) => {
    const s = unreachable[i]!;
    const url = new URL(s.StreamUrl);
    url.port = String(unreachablePort);
    return {
      name: 'unreachable StreamUrl',
      response: JSON.stringify({ SessionId: s.SessionId, TokenValue: s.TokenValue, StreamUrl: url.toString() }),
      secrets: [s.TokenValue],
    };
  });
  both((i) => {
    const s = refused[i]!;
    return {
      name: 'token refused',
      response: JSON.stringify({ SessionId: s.SessionId, TokenValue: wrongToken, StreamUrl: s.StreamUrl }),
      secrets: [s.TokenValue, wrongToken],
    };
  });

  // All at once, so the slow ones (connect retries) overlap; then one subtest per run.
  const runs = cases.map(({ c, via }) => ({ c, via, ...startBadCase(t, sim, sandbox, c, via) }));
  for (const { c, via, logFile, result } of runs) {
    const outcome = await result;
    await t.test(`${c.name} via ${via}`, async (t) => checkBadCase(t, c, via, outcome, logFile));
  }

  for (const s of refused) {
    const opens = sim.openDataChannelMessages.filter((r) => r.sessionId === s.SessionId);
    t.ok(opens.length > 0, `token refused: the plugin did try session ${s.SessionId}`);
    t.ok(opens.every((r) => !r.accepted), 'and the gateway refused every attempt');
  }
  for (const s of unreachable) {
    t.equal(
      sim.openDataChannelMessages.filter((r) => r.sessionId === s.SessionId).length,
      0,
      'unreachable StreamUrl: nothing reached the gateway',
    );
  }
});

// ---------------------------------------------------------------------------------------
// 4b. A damaged agent → client frame is dropped unacked; the agent's resend heals it
// ---------------------------------------------------------------------------------------

for (const fault of ['truncated', 'digest-corrupted'] as const) {
  t.test(`a ${fault} output frame is dropped and retransmitted; the session survives`, async (t) => {
    if (!prerequisites(t, { aws: false })) return;
    const sim = await withSimulator(t, { shellDelayMs: 50 });
    const sandbox = withSandbox(t);
    const logFile = sandbox.logPath(`${fault}.log`);
    const response = await sdkStartSession(sim);
    const marker = fault === 'truncated' ? 'truncated' : 'corrupted';
    const run = start(
      PLUGIN_BINARY,
      [JSON.stringify(response), REGION, 'StartSession', '', JSON.stringify({ Target: TARGET }), sim.endpoint],
      { env: sandbox.env({ SESSION_MANAGER_PLUGIN_LOG: logFile }), timeoutMs: 20_000 },
    );
    t.teardown(() => run.kill());
    const screen = () => printable(run.stdout().toString('utf8'));
    const until = <T>(what: string, condition: () => T | undefined | null | false, timeoutMs = 10_000) =>
      waitFor(condition, {
        what,
        timeoutMs,
        context: () => `${screen()}\n--- stderr ---\n${run.stderr().toString()}\n--- log ---\n${readLog(logFile)}`,
        abort: () => (run.exited() ? 'the plugin exited' : undefined),
      });
    await until('the remote prompt', () => PROMPT.test(run.stdout().toString('utf8')));

    // Damage exactly the frame carrying the command's output, the first time it is sent:
    // the observer sees each frame just before the fault injector does.
    let damaged: Frame | undefined;
    const sends = new Map<number, number>();
    const stop = sim.observe((direction, bytes, sessionId) => {
      if (direction !== 'toClient' || sessionId !== response.SessionId) return;
      let frame: Frame;
      try {
        frame = decodeFrame(bytes, { verifyDigest: false });
      } catch {
        return;
      }
      if (frame.messageType !== MessageType.OutputStreamData) return;
      sends.set(frame.sequenceNumber, (sends.get(frame.sequenceNumber) ?? 0) + 1);
      if (!damaged && frame.payload.includes(`42-${marker}`)) {
        damaged = { ...frame, payload: Buffer.from(frame.payload) };
        if (fault === 'truncated') sim.faults.truncateNext('toClient');
        else sim.faults.corruptNext('toClient');
      }
    });
    t.teardown(stop);

    const before = run.stdout().length;
    run.child.stdin.write(`echo $((6*7))-${marker}\n`);
    await until(`the output 42-${marker}`, () => run.stdout().subarray(before).includes(`42-${marker}`));
    t.ok(damaged, 'the output frame was damaged in flight');
    const seq = damaged!.sequenceNumber;
    t.ok((sends.get(seq) ?? 0) >= 2, `the agent retransmitted seq ${seq} (${sends.get(seq)} sends)`);
    const out = run.stdout().subarray(before);
    t.ok(out.includes(damaged!.payload), 'the frame payload arrived intact, byte for byte');
    t.equal(
      out.toString('latin1').split(`42-${marker}`).length - 1,
      1,
      'and exactly once (no damaged copy, no duplicate)',
    );
    await until('the dropped frame in the debug log', () => /dropped invalid frame/.test(readLog(logFile)));
    const expectedReason = fault === 'truncated' ? /dropped invalid frame .*(truncated|short|header length)/ : /dropped invalid frame .*digest/;
    t.match(readLog(logFile), expectedReason, 'the log says why');

    // Still alive: a second command round-trips, then a clean exit.
    const again = run.stdout().length;
    run.child.stdin.write('echo still-$((3+4))\n');
    await until('the session to keep working', () => run.stdout().subarray(again).includes('still-7'));
    run.child.stdin.end('exit\n');
    const result = await run.result;
    t.notOk(result.timedOut, 'ends by itself', { run: describeRun(result) });
    t.equal(result.code, 0, 'exits 0', { run: describeRun(result) });
    t.ok(
      result.stdout.toString().endsWith(`\n\nExiting session with sessionId: ${response.SessionId}.\n\n`),
      'exit message last',
    );
    t.equal(result.stderr.toString(), '', 'nothing on stderr');
    t.match(readLog(logFile), /"invalidFrames":1[,}]/, 'the session stats count exactly one invalid frame');
  });
}
