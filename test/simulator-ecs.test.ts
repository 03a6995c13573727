import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ECS_SESSION_ID_PREFIX, startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createSandbox, findOnPath, REGION } from './helpers/aws-cli-sandbox.ts';
import { callTarget, RawClient, ssm } from './helpers/sim-raw-client.ts';

/*
 * The fake ECS (ExecuteCommand, DescribeTasks) on the simulator endpoint, the ECS exec
 * session it starts, and the real `aws ecs execute-command` with a stub plugin that only
 * records its argv (PROTOCOL.md §1.5).
 */

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];
const ECS = 'AmazonEC2ContainerServiceV20141113.';
const AWS = findOnPath('aws');

async function simulator(t: TestContext, options: Parameters<typeof startSimulator>[0] = {}): Promise<Simulator> {
  const sim = await startSimulator({ shellDelayMs: 50, ...options });
  t.teardown(() => sim.close());
  return sim;
}

const ecs = (sim: Simulator, operation: string, body: unknown) => callTarget(sim.endpoint, `${ECS}${operation}`, body);

t.test('ExecuteCommand starts an InteractiveCommands session on the ecs: target', async (t) => {
  const sim = await simulator(t);
  const exec = await ecs(sim, 'ExecuteCommand', {
    cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/prod',
    task: 'arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
    container: 'web',
    command: 'echo ecs-$((40+2)); stty size',
    interactive: true,
  });
  t.equal(exec.status, 200);
  const body = exec.json;
  t.same(Object.keys(body).sort(), ['clusterArn', 'containerArn', 'containerName', 'interactive', 'session', 'taskArn']);
  t.equal(body.clusterArn, 'arn:aws:ecs:us-east-1:123456789012:cluster/prod');
  t.equal(body.taskArn, 'arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef');
  t.match(body.containerArn, /^arn:aws:ecs:us-east-1:123456789012:container\/prod\/0123456789abcdef0123456789abcdef\/[0-9a-f-]{36}$/);
  t.equal(body.containerName, 'web');
  t.equal(body.interactive, true);
  t.same(Object.keys(body.session), ['sessionId', 'streamUrl', 'tokenValue'], 'camelCase session members');
  t.ok(body.session.sessionId.startsWith(ECS_SESSION_ID_PREFIX));

  const described = await ecs(sim, 'DescribeTasks', { cluster: 'prod', tasks: ['0123456789abcdef0123456789abcdef'] });
  t.equal(described.status, 200);
  t.same(described.json.failures, []);
  const task = described.json.tasks[0];
  t.equal(task.taskArn, body.taskArn);
  t.equal(task.clusterArn, body.clusterArn);
  t.equal(task.lastStatus, 'RUNNING');
  const container = task.containers.find((c: any) => c.name === 'web');
  t.match(container, { name: 'web', managedAgents: [{ name: 'ExecuteCommandAgent', lastStatus: 'RUNNING' }] });
  t.match(container.runtimeId, /^0123456789abcdef0123456789abcdef-\d{10}$/);

  const session = sim.sessions.get(body.session.sessionId);
  const target = `ecs:prod_0123456789abcdef0123456789abcdef_${container.runtimeId}`;
  t.equal(session?.target, target);
  t.equal(session?.agent.sessionType, 'InteractiveCommands');

  const client = await RawClient.open(body.session.streamUrl, body.session.tokenValue, {
    sessionId: body.session.sessionId,
    target,
    endpoint: sim.endpoint,
  });
  t.teardown(() => client.close());
  await client.closed;
  t.equal(client.frames('output_stream_data')[0]?.payloadType, 1, 'no handshake without KMS');
  // Container mode (agent/session/shell/shell_unix.go): the command is split and its first
  // word executed, no shell: echo prints the other words as they are.
  t.equal(client.text(), 'ecs-$((40+2)); stty size\r\n');
  t.equal(client.channelClosed()?.Output, '');
  t.same(
    sim.apiCalls.map((c) => [c.service, c.operation]),
    [
      ['ecs', 'ExecuteCommand'],
      ['ecs', 'DescribeTasks'],
    ],
  );
});


t.test('container mode: `sh -c` when asked for, and a missing program fails the session after 2 s (shell.go)', async (t) => {
  const sim = await simulator(t);
  const run = async (command: string) => {
    const exec = await ecs(sim, 'ExecuteCommand', { cluster: 'prod', task: 't9', container: 'web', command, interactive: true });
    const client = await RawClient.open(exec.json.session.streamUrl, exec.json.session.tokenValue, {
      sessionId: exec.json.session.sessionId,
      target: sim.sessions.get(exec.json.session.sessionId)?.target ?? '',
      endpoint: sim.endpoint,
    });
    t.teardown(() => client.close());
    const openedAt = Date.now();
    await client.closed;
    return { client, ms: Date.now() - openedAt };
  };
  const shell = await run("sh -c 'echo ecs-$((40+2))'");
  t.equal(shell.client.text(), 'ecs-42\r\n');
  const missing = await run('no-such-program --version');
  t.equal(missing.client.text(), '', 'no output: the pty never started');
  t.equal(
    missing.client.channelClosed()?.Output,
    'Unable to start command: Failed to start pty: exec: "no-such-program": executable file not found in $PATH\n\n',
  );
  t.ok(missing.ms >= 1900, `the agent waits 2 s first (${missing.ms} ms)`);
});
t.test('ResumeSession and TerminateSession work for ECS sessions through the SSM API', async (t) => {
  const sim = await simulator(t);
  const exec = await ecs(sim, 'ExecuteCommand', { cluster: 'c', task: 't1', command: 'sleep 30', interactive: true });
  const { sessionId, streamUrl, tokenValue } = exec.json.session;
  t.equal(exec.json.containerName, 'app', 'the only container by default');
  const resumed = await ssm(sim.endpoint, 'ResumeSession', { SessionId: sessionId });
  t.equal(resumed.SessionId, sessionId);
  t.not(resumed.TokenValue, tokenValue);
  t.equal(resumed.StreamUrl, streamUrl);
  const client = await RawClient.open(resumed.StreamUrl, resumed.TokenValue, {
    sessionId,
    target: String(sim.sessions.get(sessionId)?.target),
    endpoint: sim.endpoint,
  });
  t.teardown(() => client.close());
  await client.until(() => sim.sessions.get(sessionId)?.client !== undefined, 'attached');
  const terminated = await ssm(sim.endpoint, 'TerminateSession', { SessionId: sessionId });
  t.same(terminated, { SessionId: sessionId });
  await client.closed;
  t.equal(sim.sessions.get(sessionId)?.status, 'terminated');
});

t.test('ECS sessions can be KMS-encrypted like any non-Port session', async (t) => {
  const sim = await simulator(t, { kmsKeyId: 'alias/ecs-exec' });
  const exec = await ecs(sim, 'ExecuteCommand', { cluster: 'c', task: 't2', command: 'echo secret-ok', interactive: true });
  const { sessionId, streamUrl, tokenValue } = exec.json.session;
  const target = String(sim.sessions.get(sessionId)?.target);
  const client = await RawClient.open(streamUrl, tokenValue, { sessionId, target, endpoint: sim.endpoint });
  t.teardown(() => client.close());
  await client.closed;
  t.equal(client.handshakeRequest.RequestedClientActions[1].ActionType, 'KMSEncryption');
  t.match(client.text(), /secret-ok/);
  t.equal((sim.apiCalls.find((c) => c.caller === 'agent')?.body as any).EncryptionContext['aws:ssm:TargetId'], target);
});

t.test('registered tasks: lookups and refusals', async (t) => {
  const sim = await simulator(t);
  sim.ecs.addTask({ cluster: 'prod', taskId: 'multi', containers: ['web', 'sidecar'] });
  sim.ecs.addTask({ cluster: 'prod', taskId: 'noagent', executeCommandAgentStatus: 'STOPPED' });
  const exec = (body: Record<string, unknown>) =>
    ecs(sim, 'ExecuteCommand', { cluster: 'prod', command: 'true', interactive: true, ...body });
  t.match((await exec({ task: 'missing' })).json, { __type: 'InvalidParameterException' });
  t.match((await exec({ task: 'multi' })).json, { __type: 'InvalidParameterException', message: /more than one container/ });
  t.match((await exec({ task: 'multi', container: 'db' })).json, { __type: 'InvalidParameterException' });
  t.match((await exec({ task: 'noagent' })).json, { __type: 'InvalidParameterException', message: /execute command/ });
  t.match((await exec({ task: 'multi', container: 'web', interactive: false })).json, {
    __type: 'InvalidParameterException',
    message: 'Interactive is the only mode supported currently.',
  });
  const ok = await exec({ task: 'multi', container: 'sidecar' });
  t.equal(ok.status, 200);
  const described = await ecs(sim, 'DescribeTasks', { cluster: 'prod', tasks: ['multi', 'missing'] });
  t.same(described.json.tasks[0].containers.map((c: any) => c.name), ['web', 'sidecar']);
  t.same(described.json.failures, [{ arn: 'arn:aws:ecs:us-east-1:123456789012:task/prod/missing', reason: 'MISSING' }]);
  t.equal(sim.sessions.size, 1);
});

t.test('the real `aws ecs execute-command` with a stub plugin', async (t) => {
  if (!AWS) return void t.fail('the AWS CLI (`aws`) is not on PATH');
  const sim = await simulator(t);
  const sandbox = createSandbox();
  t.teardown(() => sandbox.remove());
  const log = path.join(sandbox.dir, 'argv.log');
  const stub = path.join(sandbox.binDir, 'session-manager-plugin');
  rmSync(stub, { force: true });
  // Records each invocation's argv, NUL-separated, and exits 0.
  writeFileSync(stub, `#!/bin/sh\n{ printf 'CALL\\0'; for a in "$@"; do printf '%s\\0' "$a"; done; } >> '${log}'\n`);
  chmodSync(stub, 0o755);

  const child = spawn(
    AWS as string,
    [
      'ecs', 'execute-command',
      '--cluster', 'c', '--task', 't', '--container', 'x',
      '--command', 'echo from-cli-$((3*3))',
      '--interactive',
      '--endpoint-url', sim.endpoint,
      '--region', REGION,
    ],
    { env: sandbox.env(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 0, `aws exits 0 (stderr: ${stderr})`);
  t.ok(existsSync(log));
  const calls = readFileSync(log, 'latin1')
    .split('CALL\0')
    .slice(1)
    .map((call) => call.split('\0').slice(0, -1));
  t.equal(calls.length, 2);
  t.same(calls[0], [], 'first the install check with no arguments');
  const argv = calls[1] as string[];
  t.equal(argv.length, 6);
  const session = JSON.parse(argv[0] as string);
  t.same(Object.keys(session), ['sessionId', 'streamUrl', 'tokenValue'], 'the literal camelCase session JSON');
  t.ok((argv[0] as string).includes('", "'), "Python json.dumps separators (', ')");
  t.equal(argv[1], REGION);
  t.equal(argv[2], 'StartSession');
  t.equal(argv[3], '', 'no profile');
  const simSession = sim.sessions.get(session.sessionId);
  t.equal(argv[4], JSON.stringify({ Target: simSession?.target }).replace(':', ': '), '{"Target": "ecs:c_t_<runtimeId>"}');
  t.match(simSession?.target, /^ecs:c_t_t-\d{10}$/);
  t.equal(argv[5], sim.endpoint, 'argv[6] is the ECS endpoint URL (here the simulator)');
  t.same(
    sim.apiCalls.map((c) => [c.service, c.operation, c.body]),
    [
      ['ecs', 'ExecuteCommand', { cluster: 'c', container: 'x', command: 'echo from-cli-$((3*3))', interactive: true, task: 't' }],
      ['ecs', 'DescribeTasks', { cluster: 'c', tasks: ['t'] }],
    ],
  );

  // What a plugin would do with those arguments: open the stream, and use argv[6] for SSM.
  const client = await RawClient.open(session.streamUrl, session.tokenValue, {
    sessionId: session.sessionId,
    target: JSON.parse(argv[4] as string).Target,
    endpoint: argv[5] as string,
  });
  t.teardown(() => client.close());
  await client.closed;
  t.equal(client.text(), 'from-cli-$((3*3))\r\n', 'no shell in a container: echo got the words');
  const terminated = await ssm(argv[5] as string, 'TerminateSession', { SessionId: session.sessionId });
  t.equal(terminated.SessionId, session.sessionId);
});
