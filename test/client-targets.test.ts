import t from 'tap';
import { SSMClient, StartSessionCommand } from '@aws-sdk/client-ssm';
import net from 'node:net';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { parseTargetSpec, resolveTarget, targetPlatform, TargetError } from '../src/client/targets.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.ts';

/*
 * resolveTarget against the simulator: every spec form, tag lookups through SSM
 * DescribeInstanceInformation (ambiguity, offline matches, none, short pages), ECS tasks
 * through DescribeTasks, and failures of the lookup itself.
 */

// The SDK's default chain, kept away from the host's own AWS settings.
const missing = path.join(tmpdir(), 'client-targets-no-such-aws-file');
Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: missing,
  AWS_SHARED_CREDENTIALS_FILE: missing,
});
delete process.env.AWS_PROFILE;
delete process.env.AWS_SESSION_TOKEN;

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

async function simulator(t: TestContext, options: SimulatorOptions = {}): Promise<{ sim: Simulator; aws: { endpoint: string; ecsEndpoint: string } }> {
  const sim = await startSimulator({ frameLogLimit: 0, ...options });
  t.teardown(() => sim.close());
  return { sim, aws: { endpoint: sim.endpoint, ecsEndpoint: sim.endpoint } };
}

/** The TargetError a promise rejects with (fails the test otherwise). */
async function targetError(t: TestContext, promise: Promise<unknown>): Promise<TargetError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  t.type(error, TargetError);
  t.notMatch(String((error as Error).message), /\n\s+at /, 'no stack trace in the message');
  return error as TargetError;
}

t.test('parseTargetSpec: the accepted forms', async (t) => {
  t.same(parseTargetSpec('i-0123456789abcdef0'), { kind: 'instance', id: 'i-0123456789abcdef0' });
  t.same(parseTargetSpec(' i-01234567 '), { kind: 'instance', id: 'i-01234567' }, 'short EC2 ids, surrounding blanks ignored');
  t.same(parseTargetSpec('mi-0123456789abcdef0'), { kind: 'instance', id: 'mi-0123456789abcdef0' });
  t.same(parseTargetSpec('Name=web'), { kind: 'tag', key: 'Name', value: 'web' });
  t.same(parseTargetSpec('env=prod'), { kind: 'tag', key: 'env', value: 'prod' });
  t.same(parseTargetSpec('tag:aws:autoscaling:groupName=asg=1'), { kind: 'tag', key: 'aws:autoscaling:groupName', value: 'asg=1' });
  t.same(parseTargetSpec('ecs:prod/0123abcd/web'), { kind: 'ecs-task', cluster: 'prod', task: '0123abcd', container: 'web' });
  t.same(parseTargetSpec('ecs:prod/0123abcd'), { kind: 'ecs-task', cluster: 'prod', task: '0123abcd', container: undefined });
  t.same(parseTargetSpec('ecs:my_cluster_0123abcd_0123abcd-4567'), { kind: 'ecs-target', target: 'ecs:my_cluster_0123abcd_0123abcd-4567' });
  for (const bad of ['', '   ', 'web', 'i-123', 'i-0123456789ABCDEF0', 'mi-01234567', 'Name=', '=web', 'tag:=x', 'foo:bar=baz', 'ecs:', 'ecs:prod', 'ecs:prod/', 'ecs:prod/t/c/x', 'ecs:prod//c']) {
    const error = t.throws(() => parseTargetSpec(bad), TargetError, `refused: ${JSON.stringify(bad)}`) as unknown as TargetError;
    t.equal(error?.reason, 'invalid-spec');
  }
  t.match((t.throws(() => parseTargetSpec('web')) as unknown as Error).message, /Name=VALUE/, 'the message shows the accepted forms');
});

t.test('instance ids and SSM-form ECS targets are used as they are, without AWS calls', async (t) => {
  const { sim, aws } = await simulator(t);
  t.same(await resolveTarget('i-0123456789abcdef0', aws), { target: 'i-0123456789abcdef0', label: 'i-0123456789abcdef0' });
  t.same(await resolveTarget('mi-0123456789abcdef1', aws), { target: 'mi-0123456789abcdef1', label: 'mi-0123456789abcdef1' });
  t.same(await resolveTarget('ecs:c_t_r-1', aws), { target: 'ecs:c_t_r-1', label: 'ecs:c_t_r-1' });
  t.equal(sim.apiCalls.length, 0);
});

t.test('tags: one match, one Online match among several, ambiguity, offline, none', async (t) => {
  const { sim, aws } = await simulator(t);
  t.same(await resolveTarget('Name=sim-web', aws), { target: 'i-0123456789abcdef0', label: 'i-0123456789abcdef0 (Name=sim-web)', platform: 'Linux' });
  t.same(await resolveTarget('tag:Role=web', aws), { target: 'i-0123456789abcdef0', label: 'i-0123456789abcdef0 (Role=web)', platform: 'Linux' }, 'with the platform the lookup gave');
  t.match(
    sim.apiCalls.at(-1)?.body,
    { Filters: [{ Key: 'tag:Role', Values: ['web'] }], MaxResults: 50 },
    'one tag filter, the largest page',
  );

  const ambiguous = await targetError(t, resolveTarget('Name=sim-worker', aws));
  t.equal(ambiguous.reason, 'ambiguous');
  t.same(ambiguous.candidates.map((c) => [c.id, c.pingStatus]), [
    ['i-0a1b2c3d4e5f60718', 'Online'],
    ['i-0a1b2c3d4e5f60719', 'Online'],
  ]);
  t.match(ambiguous.message, /^the tag Name=sim-worker matches 2 Online managed instances; choose one by id:\n/);
  for (const c of ambiguous.candidates) {
    t.match(ambiguous.message, new RegExp(`\\n  ${c.id}  Online  ${c.computerName!.replaceAll('.', '\\.')}  ${c.ipAddress!.replaceAll('.', '\\.')} +Amazon Linux 2023`), `${c.id} listed`);
  }

  sim.instances.setPingStatus('i-0a1b2c3d4e5f60718', 'ConnectionLost');
  t.same(
    await resolveTarget('Name=sim-worker', aws),
    { target: 'i-0a1b2c3d4e5f60719', label: 'i-0a1b2c3d4e5f60719 (Name=sim-worker)', platform: 'Linux' },
    'the only Online match wins',
  );
  sim.instances.setPingStatus('i-0a1b2c3d4e5f60719', 'Inactive');
  const offline = await targetError(t, resolveTarget('Name=sim-worker', aws));
  t.equal(offline.reason, 'not-online');
  t.match(offline.message, /^the tag Name=sim-worker matches 2 managed instances, none of them Online:\n  i-0a1b2c3d4e5f60718  ConnectionLost/);
  t.match(offline.message, /\n  i-0a1b2c3d4e5f60719  Inactive /);

  const stopped = await targetError(t, resolveTarget('Name=sim-stopped', aws));
  t.equal(stopped.reason, 'not-online');
  t.match(stopped.message, /matches 1 managed instance, none of them Online/);

  const none = await targetError(t, resolveTarget('Name=nothing-here', aws));
  t.equal(none.reason, 'not-found');
  t.equal(none.message, 'no managed instance has the tag Name=nothing-here (SSM DescribeInstanceInformation in us-east-1); is the instance registered with Systems Manager and tagged?');
  t.same(none.candidates, []);
});

t.test('tags: follows NextToken through short and empty pages', async (t) => {
  const instances = Array.from({ length: 160 }, (_, n) => ({
    id: `i-${n.toString(16).padStart(17, '0')}`,
    tags: { Name: `node-${n}`, ...(n === 131 ? { special: 'yes' } : {}), ...(n % 40 === 7 ? { group: 'g' } : {}) },
    pingStatus: n === 47 || n === 131 ? ('Online' as const) : ('ConnectionLost' as const),
  }));
  const { sim, aws } = await simulator(t, { instances });
  t.same(await resolveTarget('special=yes', aws), { target: instances[131]!.id, label: `${instances[131]!.id} (special=yes)`, platform: 'Linux' });
  const calls = sim.apiCalls.filter((c) => c.operation === 'DescribeInstanceInformation');
  t.equal(calls.length, 4, 'four pages of up to 50 (three of them empty)');
  t.ok(calls.slice(1).every((c) => typeof (c.body as { NextToken?: unknown }).NextToken === 'string'), 'each later call passes the token');
  const grouped = await resolveTarget('group=g', aws);
  t.equal(grouped.target, instances[47]!.id, 'the one Online instance of the four matches, over several pages');
});

t.test('ECS tasks: containers, single-container default, failures', async (t) => {
  const { sim, aws } = await simulator(t);
  const multi = sim.ecs.addTask({ cluster: 'prod', taskId: '0123456789abcdef0123456789abcdef', containers: ['web', 'sidecar'] });
  const single = sim.ecs.addTask({ cluster: 'prod', taskId: 'fedcba9876543210fedcba9876543210', containers: ['app'] });
  const pending = sim.ecs.addTask({ cluster: 'prod', taskId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', lastStatus: 'PENDING' });
  const noExec = sim.ecs.addTask({ cluster: 'prod', taskId: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', executeCommandAgentStatus: 'STOPPED' });

  const web = await resolveTarget(`ecs:prod/${multi}/web`, aws);
  t.same(web, {
    target: `ecs:prod_${multi}_${sim.ecs.runtimeId('prod', multi, 'web')}`,
    label: `ecs:prod/${multi}/web`,
    platform: 'Linux',
  });
  t.match(sim.apiCalls.at(-1), { service: 'ecs', operation: 'DescribeTasks', body: { cluster: 'prod', tasks: [multi] } });
  t.same(await resolveTarget(`ecs:prod/${single}`, aws), {
    target: `ecs:prod_${single}_${sim.ecs.runtimeId('prod', single, 'app')}`,
    label: `ecs:prod/${single}/app`,
    platform: 'Linux',
  }, 'the only container');
  const windows = sim.ecs.addTask({ cluster: 'prod', taskId: 'dddddddddddddddddddddddddddddddd', platformFamily: 'WINDOWS_SERVER_2019_CORE' });
  const windowsTarget = await resolveTarget(`ecs:prod/${windows}`, aws);
  t.equal(windowsTarget.platform, 'Windows', "a Windows task: from DescribeTasks' platformFamily");
  t.equal(await targetPlatform(windowsTarget.target, aws), 'Windows', 'and for the SSM target form');

  const ssm = new SSMClient({ region: 'us-east-1', endpoint: sim.endpoint, maxAttempts: 1 });
  t.teardown(() => ssm.destroy());
  const started = await ssm.send(new StartSessionCommand({ Target: web.target, DocumentName: 'AWS-StartNonInteractiveCommand', Parameters: { command: ['true'] } }));
  t.equal(sim.sessions.get(started.SessionId!)?.target, web.target, 'StartSession takes the resolved target');

  const which = await targetError(t, resolveTarget(`ecs:prod/${multi}`, aws));
  t.equal(which.reason, 'ambiguous');
  t.equal(which.message, `ECS task ${multi} has 2 containers (web, sidecar); add one: ecs:prod/${multi}/CONTAINER`);
  const noContainer = await targetError(t, resolveTarget(`ecs:prod/${multi}/db`, aws));
  t.equal(noContainer.reason, 'not-found');
  t.equal(noContainer.message, `ECS task ${multi} has no container db (it has: web, sidecar)`);
  const noTask = await targetError(t, resolveTarget('ecs:prod/cccccccccccccccccccccccccccccccc', aws));
  t.equal(noTask.reason, 'not-found');
  t.equal(noTask.message, 'ECS task cccccccccccccccccccccccccccccccc was not found in cluster prod');
  const wrongCluster = await targetError(t, resolveTarget(`ecs:staging/${single}`, aws));
  t.equal(wrongCluster.reason, 'not-found');
  const notRunning = await targetError(t, resolveTarget(`ecs:prod/${pending}`, aws));
  t.equal(notRunning.reason, 'not-online');
  t.equal(notRunning.message, `ECS task ${pending} is PENDING, not RUNNING`);
  const agentDown = await targetError(t, resolveTarget(`ecs:prod/${noExec}`, aws));
  t.equal(agentDown.reason, 'not-online');
  t.match(agentDown.message, /ExecuteCommandAgent must be RUNNING/);
});

t.test('a failing lookup is a TargetError naming what was looked up', async (t) => {
  const closed = await new Promise<number>((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const endpoint = `http://127.0.0.1:${closed}`;
  const ssmDown = await targetError(t, resolveTarget('Name=web', { endpoint }));
  t.equal(ssmDown.reason, 'lookup-failed');
  t.match(ssmDown.message, /^cannot look up the tag Name=web: .*ECONNREFUSED/);
  const ecsDown = await targetError(t, resolveTarget('ecs:prod/0123abcd', { ecsEndpoint: endpoint }));
  t.equal(ecsDown.reason, 'lookup-failed');
  t.match(ecsDown.message, /^cannot look up ECS task 0123abcd in cluster prod: /);

  const { aws } = await simulator(t);
  const noCredentials = await targetError(t, resolveTarget('Name=sim-web', { ...aws, profile: 'no-such-profile' }));
  t.equal(noCredentials.reason, 'lookup-failed');
  t.match(noCredentials.message, /^cannot look up the tag Name=sim-web: CredentialsProviderError: Could not load credentials/);
});

t.test('targetPlatform: one DescribeInstanceInformation for an instance id; undefined when refused or unknown', async (t) => {
  const { sim, aws } = await simulator(t, {
    instances: [
      { id: 'i-0aaaaaaaaaaaaaaa1', platformType: 'Windows' },
      { id: 'i-0aaaaaaaaaaaaaaa2', platformType: 'MacOS' },
      { id: 'i-0aaaaaaaaaaaaaaa3' },
    ],
  });
  t.equal(await targetPlatform('i-0aaaaaaaaaaaaaaa1', aws), 'Windows');
  t.equal(await targetPlatform('i-0aaaaaaaaaaaaaaa2', aws), 'MacOS');
  t.equal(await targetPlatform('i-0aaaaaaaaaaaaaaa3', aws), 'Linux');
  t.equal(await targetPlatform('i-0fffffffffffffff0', aws), undefined, 'not a managed instance');
  t.match(sim.apiCalls.filter((c) => c.operation === 'DescribeInstanceInformation').map((c) => c.body), [
    { Filters: [{ Key: 'InstanceIds', Values: ['i-0aaaaaaaaaaaaaaa1'] }] },
  ]);
  const denied = await simulator(t, { deniedActions: ['ssm:DescribeInstanceInformation'] });
  t.equal(await targetPlatform('i-0123456789abcdef0', denied.aws), undefined, 'AccessDeniedException: unknown, not an error');
});
