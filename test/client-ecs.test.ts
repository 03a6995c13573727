// startSession() on ECS targets against the simulator's fake ECS: shells and commands go
// through ECS ExecuteCommand (never SSM StartSession), the SSM form of the target is
// resolved to a container name with DescribeTasks, tasks and containers that cannot take
// ECS exec are refused with clear errors, and port forwarding still uses StartSession.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  remoteCommand,
  ClientError,
  openPortSession,
  resolveTarget,
  startSession,
  TargetError,
  type AwsOptions,
  type SessionIO,
} from '../src/client/index.ts';
import { ECS_SESSION_ID_PREFIX, type Simulator } from '../src/simulator/index.ts';
import { simulatorFor } from './helpers/client-env.ts';
import { printable, waitFor } from './helpers/wait.ts';

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

/** Session IO with a stdin the test writes to and the output collected. */
function captureIO(): { io: SessionIO; stdin: Readable; stdout: () => Buffer; stderr: () => Buffer } {
  const collect = (): { stream: PassThrough; bytes: () => Buffer } => {
    const chunks: Buffer[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    return { stream, bytes: () => Buffer.concat(chunks) };
  };
  const out = collect();
  const err = collect();
  const stdin = new Readable({ read() {} });
  return { io: { stdin, stdout: out.stream, stderr: err.stream }, stdin, stdout: out.bytes, stderr: err.bytes };
}

async function setup(t: TestContext): Promise<{ sim: Simulator; aws: AwsOptions }> {
  const { sim, aws } = await simulatorFor(t, { pacing: false, shellDelayMs: 0, frameLogLimit: 0 });
  return { sim, aws: { ...aws, ecsEndpoint: sim.endpoint } };
}

/** Fresh 32-hex task ids: the library remembers containers by runtime id, and the fake's runtime ids follow from the names. */
const taskId = (): string => randomBytes(16).toString('hex');

/** [service, operation, body] of every API call a client made (not the agent's KMS calls). */
function calls(sim: Simulator): Array<[string | undefined, string, unknown]> {
  return sim.apiCalls.filter((call) => call.caller !== 'agent').map((call) => [call.service, call.operation, call.body]);
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

t.test('a shell in a container: ECS ExecuteCommand with /bin/sh, typed input, no StartSession', async (t) => {
  const { sim, aws } = await setup(t);
  const task = sim.ecs.addTask({ cluster: 'prod', taskId: taskId(), containers: ['web', 'sidecar'] });
  const resolved = await resolveTarget(`ecs:prod/${task}/web`, aws);
  const capture = captureIO();
  const session = await startSession({ target: resolved.target, aws, io: capture.io });
  t.ok(session.sessionId.startsWith(ECS_SESSION_ID_PREFIX), 'an ECS exec session id');
  t.equal(session.target, resolved.target, 'the session target is the SSM form (KMS context, logs)');
  capture.stdin.push('echo in-$((6*7))-$0\nexit\n');
  const outcome = await session.done;
  t.match(outcome, { status: 'closed' });
  t.match(capture.stdout().toString(), /in-42-\/bin\/sh\r\n/, 'the shell ran the typed line', { stdout: printable(capture.stdout().toString()) });
  t.same(
    calls(sim),
    [
      ['ecs', 'DescribeTasks', { cluster: 'prod', tasks: [task] }],
      ['ecs', 'ExecuteCommand', { cluster: 'prod', task, container: 'web', command: '/bin/sh', interactive: true }],
    ],
    'DescribeTasks once (resolveTarget), then ExecuteCommand; no SSM StartSession',
  );
  t.equal(sim.sessions.get(session.sessionId)?.agent.sessionType, 'InteractiveCommands');

  const bash = await startSession({ target: resolved.target, aws, io: captureIO().io, ecsShell: '/bin/bash --norc' });
  await bash.terminate();
  t.match(calls(sim).at(-2), ['ecs', 'ExecuteCommand', { container: 'web', command: '/bin/bash --norc' }], 'ecsShell is the command');
  t.match(calls(sim).at(-1), ['ssm', 'TerminateSession', { SessionId: bash.sessionId }], 'TerminateSession goes to SSM');
});

t.test('a command in a container from the SSM target form: DescribeTasks finds the container, bytes intact', async (t) => {
  const { sim, aws } = await setup(t);
  const task = sim.ecs.addTask({ cluster: 'my_prod', taskId: taskId(), containers: ['web', 'sidecar'] });
  const target = `ecs:my_prod_${task}_${sim.ecs.runtimeId('my_prod', task, 'sidecar')}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'client-ecs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lines.txt');
  const content = Array.from({ length: 2000 }, () => randomBytes(45).toString('base64')).join('\n') + '\n';
  writeFileSync(file, content);
  const capture = captureIO();
  const session = await startSession({
    target,
    aws,
    io: capture.io,
    documentName: 'AWS-StartInteractiveCommand',
    // In a container the agent splits the command and executes its first word (shell_unix.go).
    parameters: { command: [remoteCommand(`cat ${file}; echo to-err >&2; exit 3`, 'Linux')] },
  });
  const outcome = await session.done;
  t.match(outcome, { status: 'closed' });
  t.equal((outcome as { exitCode?: number }).exitCode, undefined, 'ECS exec reports no exit code');
  const expected = `${content}to-err\n`.replace(/\n/g, '\r\n');
  const stdout = capture.stdout();
  t.equal(stdout.length, expected.length, 'every byte, with the terminal line ends');
  t.equal(sha256(stdout), sha256(expected), 'stdout SHA-256: the file, then stderr merged in');
  t.equal(capture.stderr().length, 0, 'nothing on stderr: a terminal has one output');
  t.same(
    calls(sim),
    [
      ['ecs', 'DescribeTasks', { cluster: 'my_prod', tasks: [task] }],
      ['ecs', 'ExecuteCommand', { cluster: 'my_prod', task, container: 'sidecar', command: `sh -c 'cat ${file}; echo to-err >&2; exit 3'`, interactive: true }],
    ],
    'the runtime id chose the container; no SSM StartSession',
  );
});

t.test('tasks and containers that cannot take ECS exec: TargetError or ClientError, no session', async (t) => {
  const { sim, aws } = await setup(t);
  const pending = sim.ecs.addTask({ cluster: 'prod', taskId: taskId(), lastStatus: 'PENDING' });
  const noAgent = sim.ecs.addTask({ cluster: 'prod', taskId: taskId(), executeCommandAgentStatus: 'STOPPED' });
  const web = sim.ecs.addTask({ cluster: 'prod', taskId: taskId(), containers: ['web'] });
  const io = captureIO().io;
  const failure = (target: string, extra: Record<string, unknown> = {}) => startSession({ target, aws, io, ...extra }).catch((err: unknown) => err);

  const notRunning = await failure(`ecs:prod_${pending}_${pending}-0000000001`);
  t.ok(notRunning instanceof TargetError, 'a task not RUNNING: TargetError');
  t.match(notRunning, { reason: 'not-online', message: `ECS task ${pending} is PENDING, not RUNNING` });

  const unknown = await failure(`ecs:prod_${web}_${web}-0000000001`);
  t.ok(unknown instanceof TargetError, 'an unknown runtime id: TargetError');
  t.match(unknown, {
    reason: 'not-found',
    message: `ECS task ${web} has no container with runtime id ${web}-0000000001 (it has: web (${sim.ecs.runtimeId('prod', web, 'web')}))`,
  });

  const gone = await failure(`ecs:prod_${'f'.repeat(32)}_x-1`);
  t.match(gone, { reason: 'not-found', message: `ECS task ${'f'.repeat(32)} was not found in cluster prod` });

  const disabled = await failure(`ecs:prod_${noAgent}_${sim.ecs.runtimeId('prod', noAgent, 'app')}`);
  t.match(disabled, { reason: 'not-online', message: /^ECS exec is not available on container app of task / });

  const webTarget = `ecs:prod_${web}_${sim.ecs.runtimeId('prod', web, 'web')}`;
  const nonInteractive = await failure(webTarget, { documentName: 'AWS-StartNonInteractiveCommand', parameters: { command: ['true'] } });
  t.ok(nonInteractive instanceof ClientError);
  t.match(nonInteractive, { code: 'invalid-argument', message: /^ECS exec runs commands only in a terminal: use AWS-StartInteractiveCommand/ });
  const noCommand = await failure(webTarget, { documentName: 'AWS-StartInteractiveCommand' });
  t.match(noCommand, { code: 'invalid-argument', message: 'AWS-StartInteractiveCommand needs one command (parameters.command)' });

  // Known to the library, then stopped: ECS itself refuses, and says why.
  await resolveTarget(`ecs:prod/${web}/web`, aws);
  sim.ecs.addTask({ cluster: 'prod', taskId: web, containers: ['web'], lastStatus: 'STOPPED' });
  const stopped = await failure(webTarget);
  t.ok(stopped instanceof ClientError);
  t.match(stopped, {
    code: 'start-failed',
    message: `ExecuteCommand on ecs:prod/${web}/web failed: InvalidParameterException: The execute command failed because the task is not running.`,
  });

  t.equal(sim.sessions.size, 0, 'no session was started');
  t.notOk(calls(sim).some(([, operation]) => operation === 'StartSession'), 'no SSM StartSession');
});

t.test('port forwarding to a container still uses SSM StartSession on the ecs: target', async (t) => {
  const { sim, aws } = await setup(t);
  const task = sim.ecs.addTask({ cluster: 'prod', taskId: taskId(), containers: ['web'] });
  const { target } = await resolveTarget(`ecs:prod/${task}/web`, aws);
  const echo = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => echo.close());
  const port = await openPortSession({ target, port: (echo.address() as net.AddressInfo).port, aws });
  t.teardown(() => port.terminate());
  const stream = await port.openStream();
  const sent = randomBytes(64 * 1024);
  const received: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => received.push(chunk));
  stream.write(sent);
  await waitFor(() => Buffer.concat(received).length >= sent.length, { what: 'the echo', timeoutMs: 10_000 });
  t.equal(sha256(Buffer.concat(received)), sha256(sent), 'the bytes came back');
  stream.destroy();
  t.same(
    calls(sim).map(([service, operation, body]) => [service, operation, (body as { Target?: string; DocumentName?: string }).DocumentName]),
    [
      ['ecs', 'DescribeTasks', undefined],
      ['ssm', 'StartSession', 'AWS-StartPortForwardingSession'],
    ],
    'StartSession, no ExecuteCommand',
  );
  t.match(calls(sim)[1], ['ssm', 'StartSession', { Target: target }], 'on the ecs: target');
});
