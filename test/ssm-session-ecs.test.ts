// `ssm-session run` and `shell` in ECS containers, end to end: the CLI as a real process
// (from source) against the simulator's fake ECS. Commands and shells go through ECS
// ExecuteCommand (never SSM StartSession); what a terminal session gives (merged output,
// CRLF, no exit code) is what the user gets; unusable tasks fail with one line.
import t from 'tap';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createSandbox } from './helpers/aws-cli-sandbox.ts';
import { cliEnv, runCli, startedSessions, type TestContext } from './helpers/ssm-session-cli.ts';

const TASK = '0123456789abcdef0123456789abcdef';
const PENDING = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

async function setup(t: TestContext): Promise<{ sim: Simulator; env: NodeJS.ProcessEnv }> {
  const sim = await startSimulator({ pacing: false, frameLogLimit: 0, shellDelayMs: 0, tls: true });
  const sandbox = createSandbox();
  t.teardown(async () => {
    await sim.close();
    sandbox.remove();
  });
  sim.ecs.addTask({ cluster: 'prod', taskId: TASK, containers: ['web', 'sidecar'] });
  sim.ecs.addTask({ cluster: 'prod', taskId: PENDING, containers: ['web'], lastStatus: 'PENDING' });
  return { sim, env: cliEnv(sandbox, sim) };
}

/** The ECS calls the simulator received: operation, and ExecuteCommand's request. */
function ecsCalls(sim: Simulator): Array<[string, unknown]> {
  return sim.apiCalls.filter((call) => call.service === 'ecs').map((call) => [call.operation, call.body]);
}

t.test('run ecs:CLUSTER/TASK/CONTAINER -- echo hi: ECS ExecuteCommand, output through a terminal', async (t) => {
  const { sim, env } = await setup(t);
  const result = await runCli(t, ['run', `ecs:prod/${TASK}/sidecar`, '--', 'echo', 'hi'], env);
  t.equal(result.code, 0, 'exits 0', { run: result.describe });
  t.equal(result.stdout.toString(), 'hi\r\n', 'the output, with the remote terminal line end');
  t.equal(result.stderr, `Target ecs:prod/${TASK}/sidecar: ecs:prod/${TASK}/sidecar\n`, 'only the target line on stderr');
  t.same(
    ecsCalls(sim),
    [
      ['DescribeTasks', { cluster: 'prod', tasks: [TASK] }],
      ['ExecuteCommand', { cluster: 'prod', task: TASK, container: 'sidecar', command: "sh -c 'echo hi'", interactive: true }],
    ],
    'one DescribeTasks (the target), then ExecuteCommand; the agent splits commands in a container, so `sh -c`',
  );
  t.same(startedSessions(sim), [], 'no SSM StartSession');
  for (const session of sim.sessions.values()) t.notOk(result.describe.includes(session.token), 'no session token in the output');
});

t.test('run on the SSM target form: merged output, no exit code from ECS', async (t) => {
  const { sim, env } = await setup(t);
  const target = `ecs:prod_${TASK}_${sim.ecs.runtimeId('prod', TASK, 'web')}`;
  const result = await runCli(t, ['-q', 'run', target, '--', 'echo out-$((40+2)); echo err-line >&2; exit 7'], env);
  t.equal(result.code, 0, 'ECS exec reports no exit code: a session that closes normally is 0', { run: result.describe });
  t.equal(result.stdout.toString(), 'out-42\r\nerr-line\r\n', 'stdout and stderr merged on stdout');
  t.equal(result.stderr, '', '-q: nothing on stderr');
  t.match(ecsCalls(sim), [['DescribeTasks', { cluster: 'prod', tasks: [TASK] }], ['ExecuteCommand', { container: 'web' }]]);
  t.equal(ecsCalls(sim).length, 2);
  t.same(startedSessions(sim), [], 'no SSM StartSession');
});

t.test('a session the agent fails (a shell the container lacks): its text, exit 1', async (t) => {
  const { env } = await setup(t);
  const result = await runCli(t, ['shell', `ecs:prod/${TASK}/web`, '--ecs-shell', '/no/such/shell'], env);
  t.equal(result.code, 1, 'exit 1', { run: result.describe });
  // agent/session/shell/shell.go: the pty does not start; after 2 s the session fails with this.
  t.match(
    result.stderr,
    /ssm-session: the agent ended the session: Unable to start command: Failed to start pty: fork\/exec \/no\/such\/shell: no such file or directory\n$/,
  );
  t.notMatch(result.stderr, /Exiting session/);
});

t.test('shell ecs:...: /bin/sh through ECS ExecuteCommand, piped input', async (t) => {
  const { sim, env } = await setup(t);
  const result = await runCli(t, ['shell', `ecs:prod/${TASK}/web`], env, { input: 'echo shell-$((6*7))\nexit\n' });
  t.equal(result.code, 0, 'exits 0', { run: result.describe });
  t.match(result.stdout.toString(), /shell-42\r\n/, 'the typed command ran in the container shell');
  t.match(result.stderr, /Starting session with SessionId: ecs-execute-command-/, 'an ECS exec session');
  t.match(ecsCalls(sim).at(-1), ['ExecuteCommand', { cluster: 'prod', task: TASK, container: 'web', command: '/bin/sh', interactive: true }]);
  t.same(startedSessions(sim), [], 'no SSM StartSession');
});

t.test('shell --ecs-shell picks the shell started in the container', async (t) => {
  const { sim, env } = await setup(t);
  const result = await runCli(t, ['shell', `ecs:prod/${TASK}/web`, '--ecs-shell', '/bin/bash'], env, { input: 'echo $((6*7))-$0\nexit\n' });
  t.equal(result.code, 0, 'exits 0', { run: result.describe });
  t.match(result.stdout.toString(), /42-\/bin\/bash\r\n/, 'the simulated container ran the shell asked for');
  t.match(ecsCalls(sim).at(-1), ['ExecuteCommand', { cluster: 'prod', task: TASK, container: 'web', command: '/bin/bash', interactive: true }]);
});

t.test('tasks that cannot take ECS exec: one line, exit 1, no session', async (t) => {
  const { sim, env } = await setup(t);
  const checks: Array<[string, string, RegExp]> = [
    ['a task not RUNNING', `ecs:prod/${PENDING}/web`, new RegExp(`^ssm-session: ECS task ${PENDING} is PENDING, not RUNNING\\n$`)],
    ['an unknown container', `ecs:prod/${TASK}/db`, new RegExp(`^ssm-session: ECS task ${TASK} has no container db \\(it has: web, sidecar\\)\\n$`)],
    ['an unknown runtime id', `ecs:prod_${TASK}_${TASK}-0000000001`, new RegExp(`^ssm-session: ECS task ${TASK} has no container with runtime id ${TASK}-0000000001 .*\\n$`)],
  ];
  for (const [what, target, pattern] of checks) {
    const result = await runCli(t, ['run', target, '--', 'true'], env);
    t.equal(result.code, 1, `${what}: exit 1`, { run: result.describe });
    t.match(result.stderr, pattern, `${what}: the message`);
    t.notMatch(result.stderr, /\n\s+at |Error:|\{/, `${what}: no stack trace or raw object`);
    t.equal(result.stdout.length, 0, `${what}: nothing on stdout`);
  }
  t.equal(sim.sessions.size, 0, 'no session was started');
});
