// Dead and refused connections, end to end with the built plugin: a connection that goes
// silent (TCP open, nothing arrives) is detected within the liveness bound and resumed;
// a service that refuses ResumeSession for a while is retried until it accepts; a
// ResumeSession without a token or for a session that no longer exists ends the plugin
// with a clear message; and `~.` gets the user out of a hung shell in a real pty, with
// the terminal restored.
import t from 'tap';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { DataChannel } from '../src/channel/data-channel.ts';
import { MessageType, PayloadType } from '../src/protocol/constants.ts';
import { PluginSession } from '../src/cli/plugin-session.ts';
import type { ApiCall, Simulator, SimulatorOptions } from '../src/simulator/index.ts';
import { memoryLink, type MemoryTransport } from '../src/transport/memory-transport.ts';
import type { Sandbox } from './helpers/aws-cli-sandbox.ts';
import {
  apiCallsFor,
  describeRun,
  sdkStartSession,
  startPlugin,
  TARGET,
  type StartResponse,
} from './helpers/plugin-runs.ts';
import { startConnectProxy } from './helpers/connect-proxy.ts';
import { printable, waitFor } from './helpers/wait.ts';
import {
  BACK_NOTICE as BACK,
  LOST_NOTICE as LOST,
  pluginInPty,
  requireBinary,
  withSandbox,
  withSimulator,
  type TestContext,
} from './helpers/plugin-fixtures.ts';

const PROMPT = /sh-\d+\.\d+[$#] /;
/** The silence limit the tests give the plugin (SESSION_MANAGER_PLUGIN_LIVENESS_MS). */
const LIVENESS_MS = 1500;
/** Scheduling slack on a busy 2-core machine. */
const MARGIN_MS = 1000;

const simulator = (t: TestContext, options: SimulatorOptions = {}): Promise<Simulator> =>
  withSimulator(t, { shellDelayMs: 50, ...options });

/**
 * Calls `listener` synchronously as each API request arrives at the simulator (before
 * its body is read and answered), so a test can react before the plugin's next step.
 */
function onApiCall(t: TestContext, sim: Simulator, listener: (call: ApiCall) => void): void {
  const calls = sim.apiCalls as ApiCall[];
  const original = calls.push;
  calls.push = function (this: ApiCall[], ...items: ApiCall[]): number {
    const length = original.apply(this, items);
    for (const item of items) listener(item);
    return length;
  };
  t.teardown(() => {
    calls.push = original;
  });
}

/** A shell session through the built plugin; stdin stays open for typing. */
async function shell(t: TestContext, sim: Simulator, sandbox: Sandbox, endpoint?: string, extraEnv: Record<string, string> = {}) {
  const response = await sdkStartSession(sim);
  const run = startPlugin(sim, sandbox, response, {
    timeoutMs: 45_000,
    env: { SESSION_MANAGER_PLUGIN_LIVENESS_MS: String(LIVENESS_MS), ...extraEnv },
    ...(endpoint ? { endpoint } : {}),
  });
  t.teardown(() => run.kill());
  const screen = () => run.stdout().toString('utf8');
  const until = <T>(what: string, condition: () => T | undefined | null | false, timeoutMs = 15_000) =>
    waitFor(condition, {
      what,
      timeoutMs,
      context: () => `${printable(screen())}\n--- stderr ---\n${printable(run.stderr().toString())}`,
      abort: () => (run.exited() ? 'the plugin exited' : undefined),
    });
  await until('the remote prompt', () => PROMPT.test(screen()));
  /** Types a command whose output is `<tag>-<n>` and returns a waiter for that output. */
  let counter = 0;
  const command = (tag: string) => {
    const n = ++counter * 7;
    const from = run.stdout().length;
    run.child.stdin.write(`echo ${tag}-$((${n}*6))\n`);
    const expected = `${tag}-${n * 6}`;
    return (timeoutMs?: number) =>
      until(`the output ${expected}`, () => run.stdout().subarray(from).toString().includes(expected), timeoutMs);
  };
  return { response, run, id: response.SessionId, screen, until, command };
}

t.test('a silent connection is detected within the liveness bound and resumed', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await simulator(t);
  const sandbox = withSandbox(t);
  const { id, run, command } = await shell(t, sim, sandbox);
  await command('before')();

  // Idle for twice the silence limit: pings and pongs keep the connection alive.
  const idleUntil = performance.now() + 2 * LIVENESS_MS;
  await waitFor(() => performance.now() >= idleUntil, { what: 'an idle period', timeoutMs: 3 * LIVENESS_MS });
  t.equal(apiCallsFor(sim, 'ResumeSession', id).length, 0, `an idle but answering connection is kept (${2 * LIVENESS_MS} ms)`);

  // The service goes silent (frames, pongs, everything) while TCP stays up. The first
  // ResumeSession call ends the outage, so the new connection works.
  let silencedAt = 0;
  let detectedAt = 0;
  onApiCall(t, sim, (call) => {
    if (call.operation !== 'ResumeSession' || detectedAt) return;
    detectedAt = performance.now();
    sim.faults.unsilence();
  });
  sim.faults.silence();
  silencedAt = performance.now();
  // Typed into the dead connection: numbered, kept, resent on the new one.
  const during = command('during');
  await during(LIVENESS_MS + 10_000);
  const recoveredAt = performance.now();
  const after = command('after');
  await after();

  const detection = detectedAt - silencedAt;
  const recovery = recoveredAt - silencedAt;
  t.ok(detectedAt > 0, 'the plugin called ResumeSession');
  t.ok(detection >= LIVENESS_MS - 600, `not declared dead early: ${detection.toFixed(0)} ms after the silence began (limit ${LIVENESS_MS} ms, pings every ${LIVENESS_MS / 3} ms)`);
  t.ok(detection <= LIVENESS_MS + MARGIN_MS, `detected within the bound: ${detection.toFixed(0)} ms ≤ ${LIVENESS_MS} + ${MARGIN_MS} ms`);
  t.ok(recovery <= LIVENESS_MS + MARGIN_MS + 1500, `the command typed into the silence produced its output ${recovery.toFixed(0)} ms after the silence began`);
  t.equal(apiCallsFor(sim, 'ResumeSession', id).length, 1, 'one ResumeSession');
  t.equal(sim.sessions.get(id)!.connectionCount, 2, 'one new connection');

  run.child.stdin.write('exit\n');
  const exit = await run.result;
  t.equal(exit.code, 0, 'exit status 0', { run: describeRun(exit) });
  const stderr = exit.stderr.toString();
  t.equal(stderr.match(LOST)?.length, 1, 'exactly one "re-establishing" line');
  t.equal(stderr.match(BACK)?.length, 1, 'exactly one "re-established" line');
  t.equal(stderr.replace(LOST, '').replace(BACK, '').trim(), '', 'nothing else on stderr');
  t.ok(exit.stdout.toString().endsWith(`\n\nExiting session with sessionId: ${id}.\n\n`), 'ends normally');
  t.comment(`silent connection: detected after ${detection.toFixed(0)} ms, session usable again after ${recovery.toFixed(0)} ms`);
});

t.test('ResumeSession refused for a while: the plugin keeps retrying and recovers', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await simulator(t);
  const sandbox = withSandbox(t);
  const { id, run, command } = await shell(t, sim, sandbox);
  await command('before')();

  const REFUSE_MS = 3000;
  let refusedFrom = 0;
  onApiCall(t, sim, (call) => {
    if (call.operation !== 'ResumeSession' || refusedFrom) return;
    refusedFrom = performance.now();
    sim.faults.refuseResume(REFUSE_MS); // this call and every one for 3 s: HTTP 500
    sim.faults.unsilence();
  });
  sim.faults.silence();
  const during = command('during');
  await during(LIVENESS_MS + REFUSE_MS + 15_000);
  const recovery = performance.now() - refusedFrom;
  const calls = apiCallsFor(sim, 'ResumeSession', id);
  const refused = calls.filter((c) => c.status === 500);
  t.ok(refused.length >= 2, `${refused.length} refused ResumeSession calls (SDK retries and the plugin's own)`);
  t.equal(calls.filter((c) => c.status === 200).length, 1, 'then one that succeeds');
  t.ok(calls.at(-1)?.status === 200, 'the successful one is the last');
  // The plugin's backoff is capped at 5 s; the SDK adds its own retry delays.
  t.ok(recovery <= REFUSE_MS + 8000, `usable again ${recovery.toFixed(0)} ms after the first refusal (refused for ${REFUSE_MS} ms)`);
  await command('after')();

  run.child.stdin.write('exit\n');
  const exit = await run.result;
  t.equal(exit.code, 0, 'exit status 0', { run: describeRun(exit) });
  const stderr = exit.stderr.toString();
  t.equal(stderr.match(LOST)?.length, 1, 'one "re-establishing" line however many attempts');
  t.equal(stderr.match(BACK)?.length, 1, 'one "re-established" line');
  t.notMatch(stderr, /Cannot perform|InternalServerError/, 'the refusals are not reported as errors');
});

/** An SSM endpoint of our own (argv[6]): answers every call with `answer(operation, SessionId)`. */
async function fakeSsmEndpoint(t: TestContext, answer: (operation: string, sessionId: string | undefined) => Record<string, unknown>) {
  const calls: Array<{ operation: string; at: number }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSSM\./, '');
      calls.push({ operation, at: performance.now() });
      const sessionId = (JSON.parse(body || '{}') as { SessionId?: string }).SessionId;
      res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(answer(operation, sessionId)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

t.test('ResumeSession without a token: "Session: <id> timed out." and exit', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await simulator(t);
  const sandbox = withSandbox(t);
  const fake = await fakeSsmEndpoint(t, (_operation, sessionId) => ({ SessionId: sessionId })); // no TokenValue
  const { id, run, command } = await shell(t, sim, sandbox, fake.endpoint);
  await command('before')();
  const droppedAt = performance.now();
  sim.disconnectClient(id);
  const exit = await run.result;
  const took = performance.now() - droppedAt;
  t.notOk(exit.timedOut, 'no hang', { run: describeRun(exit) });
  t.ok(took < 5000, `exits ${took.toFixed(0)} ms after the drop`);
  // Exit status: 1 when the response came through the environment (the CLI then prints
  // nothing that could hold the token), as for every failure of this plugin.
  t.equal(exit.code, 1, 'exit status 1 (environment-variable contract)', { run: describeRun(exit) });
  const stderr = exit.stderr.toString();
  t.match(stderr, new RegExp(`(^|\\n)Session: ${id} timed out\\.\\n$`), 'ends with the official "Session: <id> timed out." line, unprefixed');
  t.equal(stderr.match(/timed out/g)?.length, 1, 'said once');
  t.same(fake.calls.map((c) => c.operation), ['ResumeSession', 'TerminateSession'], 'one ResumeSession (no retry), then TerminateSession');
});

t.test('ResumeSession hands out a token the service refuses: backoff, not a hot loop', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await simulator(t);
  const sandbox = withSandbox(t);
  let sim2Url = '';
  const fake = await fakeSsmEndpoint(t, (_operation, sessionId) => ({
    SessionId: sessionId,
    TokenValue: Buffer.from('a token the gateway does not know').toString('base64'),
    StreamUrl: sim2Url,
  }));
  const { id, run, command, response } = await shell(t, sim, sandbox, fake.endpoint);
  sim2Url = response.StreamUrl;
  await command('before')();
  const droppedAt = performance.now();
  sim.disconnectClient(id);
  const WINDOW_MS = 3000;
  await waitFor(() => performance.now() - droppedAt >= WINDOW_MS, { what: 'a refusing period', timeoutMs: WINDOW_MS + 1000 });
  const resumes = fake.calls.filter((c) => c.operation === 'ResumeSession');
  const refusedOpens = sim.openDataChannelMessages.filter((r) => r.sessionId === id && !r.accepted);
  // Each new socket is closed by the gateway with 1008 right after OpenDataChannel.
  t.ok(refusedOpens.length >= 2, `${refusedOpens.length} connections refused by the service`);
  t.ok(resumes.length >= 2 && resumes.length <= 8, `${resumes.length} ResumeSession calls in ${WINDOW_MS} ms (backoff 100-199 ms doubling)`);
  const gaps = resumes.slice(1).map((c, i) => c.at - resumes[i]!.at);
  t.ok(gaps.every((gap, i) => i === 0 || gap >= gaps[i - 1]! * 0.9), `pauses grow: ${gaps.slice(0, 8).map((g) => g.toFixed(0)).join(', ')}${gaps.length > 8 ? ', …' : ''} ms`);
  run.child.kill('SIGTERM');
  const exit = await run.result;
  t.notOk(exit.timedOut, 'SIGTERM still ends it', { run: describeRun(exit) });
});

t.test('ResumeSession says the session does not exist: a clear message and exit', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await simulator(t);
  const sandbox = withSandbox(t);
  const { id, run, command } = await shell(t, sim, sandbox);
  await command('before')();
  // Silent, then ended by the service: the channel_closed never reaches the plugin.
  let resumedAt = 0;
  onApiCall(t, sim, (call) => {
    if (call.operation !== 'ResumeSession' || resumedAt) return;
    resumedAt = performance.now();
    sim.faults.unsilence();
  });
  sim.faults.silence();
  const silencedAt = performance.now();
  sim.terminateSession(id);
  const exit = await run.result;
  const took = performance.now() - silencedAt;
  t.notOk(exit.timedOut, 'no hang', { run: describeRun(exit) });
  t.ok(took <= LIVENESS_MS + MARGIN_MS + 2000, `exits ${took.toFixed(0)} ms after the silence began`);
  t.equal(exit.code, 1, 'exit status 1 (environment-variable contract)', { run: describeRun(exit) });
  const stderr = exit.stderr.toString();
  t.match(stderr, /^Cannot perform start session: the session cannot be resumed: .*does not exist.*\n$/m, 'a clear one-line reason');
  t.equal(stderr.match(/Cannot perform start session/g)?.length, 1, 'said once');
  const resumes = apiCallsFor(sim, 'ResumeSession', id);
  t.equal(resumes.length, 1, 'no retry after DoesNotExistException');
  t.equal(resumes[0]?.errorType, 'DoesNotExistException', 'the service said DoesNotExist');
});

t.test('~. ends a hung shell in a real pty: TerminateSession, terminal restored, exit 0', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await simulator(t);
  const sandbox = withSandbox(t);
  const response: StartResponse = await sdkStartSession(sim);
  const id = response.SessionId;
  // The terminal's settings before and after the plugin, from the same shell. The default
  // liveness limit (15 s): the hang lasts, only the escape gets out.
  const script =
    'stty -a; echo STTY-BEFORE-END; "$0" "$@"; echo "PLUGIN-EXIT=$?"; stty -a; echo STTY-AFTER-END';
  const { pty, screen: printed, exit: exitOf, exited } = pluginInPty(t, sim, sandbox, response, script);
  const until = <T>(what: string, condition: () => T | undefined | null | false, timeoutMs = 15_000) =>
    waitFor(condition, { what, timeoutMs, context: () => printable(printed()), abort: () => (exitOf() ? 'the pty exited' : undefined) });

  await until('the remote prompt', () => PROMPT.test(printed()));
  let mark = printed().length;
  pty.write('echo alive-$((5*5))\r');
  await until('the output alive-25', () => printed().slice(mark).includes('alive-25'));

  sim.faults.silence();
  mark = printed().length;
  pty.write('echo lost-$((2*2))\r'); // goes nowhere: the shell hangs
  const typedAt = performance.now();
  pty.write('\r~.');
  await until('the plugin to exit', () => /PLUGIN-EXIT=(\d+)/.exec(printed()), 10_000);
  const took = performance.now() - typedAt;
  await until('the second stty -a', () => printed().includes('STTY-AFTER-END'));
  await exited;

  t.ok(took < 3000, `the plugin ended ${took.toFixed(0)} ms after ~.`);
  t.equal(/PLUGIN-EXIT=(\d+)/.exec(printed())?.[1], '0', 'plugin exit status 0');
  t.notOk(printed().slice(mark).includes('lost-4'), 'the hung command never ran (the connection really was dead)');
  t.match(printed(), new RegExp(`Exiting session with sessionId: ${id}\\.`), 'the exit message');
  const terminations = apiCallsFor(sim, 'TerminateSession', id);
  t.equal(terminations.length, 1, 'TerminateSession API called once');
  t.equal(terminations[0]?.status, 200, 'and accepted');
  t.equal(sim.sessions.get(id)?.status, 'terminated', 'the service ended the session');
  const before = /^([\s\S]*?)STTY-BEFORE-END/m.exec(printed())?.[1]?.trim() ?? '';
  const after = /PLUGIN-EXIT=\d+\r?\n([\s\S]*?)STTY-AFTER-END/.exec(printed())?.[1]?.trim() ?? '';
  t.match(before, /(^|\s)icanon(\s|$)/, 'the terminal started in canonical mode');
  t.equal(after.replace(/\r/g, ''), before.replace(/\r/g, ''), 'stty -a after the plugin is identical to before (terminal restored)');
  t.equal(exitOf()?.exitCode, 0, 'the shell around it exits 0');
});

// A service that accepts each new WebSocket and closes it at once (a close frame, e.g.
// 1008 policy violation), before anything arrives: it refuses the data channel after the
// upgrade. The plugin keeps trying,
// as long as ResumeSession succeeds, but with growing pauses: not a tight loop of API
// calls and notices, and it recovers as soon as a connection holds.
t.test('connections the service closes before any frame: backoff, not a hot loop; then recovery', async (t) => {
  const agent = new DataChannel({ outgoingType: MessageType.OutputStreamData, incomingType: MessageType.InputStreamData });
  const received: string[] = [];
  agent.setHandler((type, payload) => (type === PayloadType.Output && received.push(payload.toString()), true));
  let refusing = false;
  let links = 0;
  let live: MemoryTransport | undefined;
  const connect = async (): Promise<MemoryTransport> => {
    links++;
    const [clientEnd, serverEnd] = memoryLink();
    if (refusing) setImmediate(() => serverEnd.close(1008));
    else agent.attach((live = serverEnd));
    return clientEnd;
  };
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let screen = '';
  stdout.on('data', (d: Buffer) => (screen += d.toString()));
  const stderr = new PassThrough();
  let notices = '';
  stderr.on('data', (d: Buffer) => (notices += d.toString()));
  const resumedAt: number[] = [];
  const session = new PluginSession({
    sessionId: 'sess-flap',
    tokenValue: 'token-0',
    streamUrl: 'ws://unused',
    target: 'i-1',
    io: { stdin: stdin as never, stdout: stdout as never, stderr },
    connect,
    api: {
      terminateSession: async () => undefined,
      resumeSession: async () => (resumedAt.push(performance.now()), { tokenValue: `token-${resumedAt.length}`, streamUrl: 'ws://unused' }),
    },
  });
  const outcome = session.run();
  await waitFor(() => links === 1, { what: 'the first connection', timeoutMs: 5000 });
  agent.send(PayloadType.Output, Buffer.from('$ '));
  await waitFor(() => screen.includes('$ '), { what: 'the prompt', timeoutMs: 5000 });

  refusing = true;
  const lostAt = performance.now();
  live?.close(); // the plugin sees its connection close
  await waitFor(() => resumedAt.length >= 1, { what: 'the first ResumeSession', timeoutMs: 5000 });
  const WINDOW_MS = 2000;
  await waitFor(() => performance.now() - lostAt >= WINDOW_MS, { what: 'a refusing period', timeoutMs: WINDOW_MS + 1000 });
  const attempts = resumedAt.length;
  // 100–199 ms base, doubled: at most ~5 attempts in 2 s (a hot loop makes hundreds).
  t.ok(attempts >= 2 && attempts <= 8, `${attempts} ResumeSession calls in ${WINDOW_MS} ms of refused connections`);
  const gaps = resumedAt.slice(1).map((at, i) => at - resumedAt[i]!);
  t.ok(gaps.every((gap, i) => i === 0 || gap >= gaps[i - 1]! * 0.9), `pauses grow: ${gaps.slice(0, 8).map((g) => g.toFixed(0)).join(', ')}${gaps.length > 8 ? ', …' : ''} ms`);

  refusing = false;
  stdin.write('after\n');
  await waitFor(() => received.some((r) => r.includes('after')), { what: 'input after recovery', timeoutMs: 10_000 });
  t.pass('the session recovers once a connection holds');
  const lost = notices.split('re-establishing it...').length - 1;
  t.ok(lost <= attempts + 1, `${lost} "re-establishing" notices for ${attempts} attempts`);
  session.end('test over', false);
  t.same(await outcome, { status: 'ended', reason: 'test over' });
  agent.close();
});

t.test('through an HTTP proxy: the WebSocket and ResumeSession both use the CONNECT tunnel', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await simulator(t);
  const sandbox = withSandbox(t);
  const proxy = await startConnectProxy((host, port) => (host === '127.0.0.1' && port === sim.port ? sim.port : undefined));
  t.teardown(() => proxy.close());
  // The sandbox exempts 127.0.0.1 from proxies; this test wants the opposite.
  const { id, command } = await shell(t, sim, sandbox, undefined, { HTTP_PROXY: proxy.url, NO_PROXY: '', no_proxy: '' });
  await command('before')();
  const target = `127.0.0.1:${sim.port}`;
  t.same(proxy.tunnels, [target], 'the first WebSocket went through the proxy');
  sim.disconnectClient(id);
  await command('after')(20_000);
  t.equal(apiCallsFor(sim, 'ResumeSession', id).length, 1, 'one ResumeSession');
  t.ok(proxy.tunnels.length >= 3 && proxy.tunnels.every((tunnel) => tunnel === target), `ResumeSession and the new WebSocket were tunnelled too (${proxy.tunnels.length} tunnels)`);
});

t.test('AWS_CA_BUNDLE: ResumeSession over HTTPS trusts the given CA; an unreadable bundle is a clear, final error', async (t) => {
  if (!requireBinary(t)) return;
  const sandbox = withSandbox(t);
  // The session starts over ws:// (the test's own StartSession is plain HTTP); ResumeSession
  // goes to the simulator's HTTPS side, whose certificate only its throwaway CA vouches for.
  const sim = await simulator(t, { tls: true });
  const { id, command } = await shell(t, sim, sandbox, sim.httpsEndpoint, { AWS_CA_BUNDLE: sim.caFile! });
  await command('before')();
  sim.disconnectClient(id);
  await command('after')(20_000);
  t.same(apiCallsFor(sim, 'ResumeSession', id).map((call) => call.status), [200], 'ResumeSession reached the service over HTTPS');
  t.same(
    sim.openDataChannelMessages.filter((r) => r.sessionId === id).map((r) => r.secure),
    [false, true],
    'and the plugin trusted the CA for the wss:// stream URL it returned too',
  );

  const second = await shell(t, sim, sandbox, sim.httpsEndpoint, { AWS_CA_BUNDLE: path.join(sandbox.dir, 'missing.pem') });
  await second.command('before')();
  sim.disconnectClient(second.id);
  const exit = await second.run.result;
  t.notOk(exit.timedOut, 'no endless retry');
  t.match(exit.stderr.toString(), /Cannot perform start session: the session cannot be resumed: cannot read AWS_CA_BUNDLE \S*missing\.pem/);
  t.equal(exit.code, 1);
});
