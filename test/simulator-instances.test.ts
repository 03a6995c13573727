import t from 'tap';
import {
  DescribeInstanceInformationCommand,
  paginateDescribeInstanceInformation,
  SSMClient,
  StartSessionCommand,
  type DescribeInstanceInformationCommandInput,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import path from 'node:path';
import { DEFAULT_INSTANCES, startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.ts';
import { parseInstanceSpec } from '../src/simulator/instances.ts';
import { createSandbox, findOnPath, REGION, ROOT } from './helpers/aws-cli-sandbox.ts';
import { start } from './helpers/processes.ts';
import { callTarget } from './helpers/sim-raw-client.ts';
import { waitFor } from './helpers/wait.ts';

/*
 * The simulator's managed instances and SSM DescribeInstanceInformation: response shape,
 * filters, pagination limits, error types, StartSession's ping-status check, the simulator
 * CLI's --instance switches, and the real AWS CLI against it.
 */

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];
const AWS = findOnPath('aws');

async function simulator(t: TestContext, options: SimulatorOptions = {}): Promise<{ sim: Simulator; ssm: SSMClient }> {
  const sim = await startSimulator({ frameLogLimit: 0, ...options });
  const ssm = new SSMClient({
    region: REGION,
    endpoint: sim.endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  t.teardown(async () => {
    ssm.destroy();
    await sim.close();
  });
  return { sim, ssm };
}

async function listAll(ssm: SSMClient, input: DescribeInstanceInformationCommandInput = {}): Promise<InstanceInformation[]> {
  const out: InstanceInformation[] = [];
  for await (const page of paginateDescribeInstanceInformation({ client: ssm }, input)) out.push(...(page.InstanceInformationList ?? []));
  return out;
}

const ids = (list: readonly InstanceInformation[] | undefined) => (list ?? []).map((i) => i.InstanceId);
const describe = (ssm: SSMClient, input: DescribeInstanceInformationCommandInput) =>
  ssm.send(new DescribeInstanceInformationCommand(input));

/** 23 instances: every third ConnectionLost, tagged team=a/b alternately, Name=node-N. */
function fleet(): Array<{ id: string; tags: Record<string, string>; pingStatus: 'Online' | 'ConnectionLost' }> {
  return Array.from({ length: 23 }, (_, n) => ({
    id: `i-${n.toString(16).padStart(17, '0')}`,
    tags: { Name: `node-${n}`, team: n % 2 === 0 ? 'a' : 'b' },
    pingStatus: n % 3 === 2 ? ('ConnectionLost' as const) : ('Online' as const),
  }));
}

t.test('the default instances, in the shape of the real response', async (t) => {
  const { ssm } = await simulator(t);
  const out = await describe(ssm, {});
  t.same(ids(out.InstanceInformationList), DEFAULT_INSTANCES.map((i) => i.id), 'every default instance, in order');
  t.equal(out.NextToken, undefined, 'one page (default page size 10)');
  const web = out.InstanceInformationList?.[0];
  t.match(web, {
    InstanceId: 'i-0123456789abcdef0',
    PingStatus: 'Online',
    AgentVersion: '3.3.987.0',
    PlatformType: 'Linux',
    PlatformName: 'Amazon Linux',
    PlatformVersion: '2023',
    ResourceType: 'EC2Instance',
    SourceType: 'AWS::EC2::Instance',
    IPAddress: /^10\.\d+\.\d+\.\d+$/,
    ComputerName: /^ip-10-\d+-\d+-\d+\.ec2\.internal$/,
  });
  t.ok(web?.LastPingDateTime instanceof Date && Math.abs(web.LastPingDateTime.getTime() - Date.now()) < 60_000, 'LastPingDateTime is a recent timestamp');
  t.notOk('Name' in (web ?? {}), 'no Name for EC2 instances (tags are not part of the response)');
  const hybrid = out.InstanceInformationList?.find((i) => i.InstanceId?.startsWith('mi-'));
  t.match(hybrid, {
    ResourceType: 'ManagedInstance',
    SourceType: 'AWS::SSM::ManagedInstance',
    Name: 'sim-onprem',
    ComputerName: 'onprem-01',
    PlatformName: 'Ubuntu',
    ActivationId: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    IamRole: 'SSMServiceRole',
  });
  t.ok(hybrid?.RegistrationDate instanceof Date, 'hybrid instances have a RegistrationDate');
  const lost = out.InstanceInformationList?.find((i) => i.PingStatus === 'ConnectionLost');
  t.ok(lost?.LastPingDateTime && lost.LastPingDateTime.getTime() < Date.now() - 60_000, 'a lost instance last pinged a while ago');
});

t.test('filters: tags, tag-key, fields, the legacy list', async (t) => {
  const { sim, ssm } = await simulator(t);
  sim.instances.add({ id: 'i-0123456789abcdef9', tags: { Name: 'win', os: 'windows' }, platformType: 'Windows' });
  const byFilters = async (Filters: DescribeInstanceInformationCommandInput['Filters']) => ids(await listAll(ssm, { Filters }));

  t.same(await byFilters([{ Key: 'tag:Name', Values: ['sim-worker'] }]), ['i-0a1b2c3d4e5f60718', 'i-0a1b2c3d4e5f60719']);
  t.same(await byFilters([{ Key: 'tag:Name', Values: ['sim-web', 'win'] }]), ['i-0123456789abcdef0', 'i-0123456789abcdef9'], 'values are alternatives');
  t.same(await byFilters([{ Key: 'tag:Name', Values: ['SIM-WEB'] }]), [], 'tag values are case-sensitive');
  t.same(
    await byFilters([
      { Key: 'tag:Environment', Values: ['dev'] },
      { Key: 'tag:Role', Values: ['web'] },
    ]),
    ['i-0123456789abcdef0'],
    'filters must all match',
  );
  t.same(await byFilters([{ Key: 'tag-key', Values: ['os'] }]), ['i-0123456789abcdef9'], 'tag-key');
  t.same(await byFilters([{ Key: 'PingStatus', Values: ['ConnectionLost'] }]), ['i-0c1d2e3f4a5b60000']);
  t.same(await byFilters([{ Key: 'PlatformTypes', Values: ['Windows'] }]), ['i-0123456789abcdef9']);
  t.same(await byFilters([{ Key: 'ResourceType', Values: ['ManagedInstance'] }]), ['mi-0123456789abcdef1']);
  t.same(
    await byFilters([
      { Key: 'InstanceIds', Values: ['i-0123456789abcdef0', 'i-0c1d2e3f4a5b60000', 'i-0ffffffffffffffff'] },
      { Key: 'PingStatus', Values: ['Online'] },
    ]),
    ['i-0123456789abcdef0'],
    'InstanceIds and PingStatus together; an unknown id is simply not listed',
  );
  t.same(
    ids(await listAll(ssm, { InstanceInformationFilterList: [{ key: 'PlatformTypes', valueSet: ['Windows', 'Linux'] }, { key: 'PingStatus', valueSet: ['Online'] }] })),
    ['i-0123456789abcdef0', 'i-0a1b2c3d4e5f60718', 'i-0a1b2c3d4e5f60719', 'mi-0123456789abcdef1', 'i-0123456789abcdef9'],
    'the legacy InstanceInformationFilterList',
  );

  sim.instances.setPingStatus('i-0a1b2c3d4e5f60718', 'ConnectionLost');
  t.same(await byFilters([{ Key: 'PingStatus', Values: ['ConnectionLost'] }]), ['i-0a1b2c3d4e5f60718', 'i-0c1d2e3f4a5b60000'], 'setPingStatus shows');
  t.ok(sim.instances.remove('i-0123456789abcdef9'));
  t.same(await byFilters([{ Key: 'tag-key', Values: ['os'] }]), [], 'remove() shows');
});

t.test('pagination: MaxResults 5..50, default 10, NextToken bound to the query', async (t) => {
  const { sim, ssm } = await simulator(t, { instances: fleet() });
  t.equal(sim.instances.list().length, 23);

  const sizes: number[] = [];
  const seen: string[] = [];
  let token: string | undefined;
  do {
    const page = await describe(ssm, { MaxResults: 5, ...(token ? { NextToken: token } : {}) });
    sizes.push(page.InstanceInformationList?.length ?? 0);
    seen.push(...ids(page.InstanceInformationList).map(String));
    token = page.NextToken;
  } while (token);
  t.same(sizes, [5, 5, 5, 5, 3], 'full pages, then the rest');
  t.same(seen, fleet().map((i) => i.id), 'every instance once, in order');

  const first = await describe(ssm, {});
  t.equal(first.InstanceInformationList?.length, 10, 'default page size 10');
  t.type(first.NextToken, 'string');

  // Tag filters are matched after the page is cut, as the real service does: short and
  // empty pages that still carry a NextToken.
  const tagSizes: number[] = [];
  const tagged: string[] = [];
  token = undefined;
  do {
    const page = await describe(ssm, { Filters: [{ Key: 'tag:Name', Values: ['node-1', 'node-22'] }], MaxResults: 5, ...(token ? { NextToken: token } : {}) });
    tagSizes.push(page.InstanceInformationList?.length ?? 0);
    tagged.push(...ids(page.InstanceInformationList).map(String));
    token = page.NextToken;
  } while (token);
  t.same(tagSizes, [1, 0, 0, 0, 1], 'short and empty pages with tag filters');
  t.same(tagged, [fleet()[1]!.id, fleet()[22]!.id]);
  t.same(ids(await listAll(ssm, { Filters: [{ Key: 'tag:team', Values: ['a'] }] })), fleet().filter((i) => i.tags.team === 'a').map((i) => i.id), 'the SDK paginator collects them all');
  const onlineCount = fleet().filter((i) => i.pingStatus === 'Online').length;
  const online = await describe(ssm, { Filters: [{ Key: 'PingStatus', Values: ['Online'] }], MaxResults: 50 });
  t.equal(online.InstanceInformationList?.length, onlineCount, 'non-tag filters give full pages');
  t.equal(online.NextToken, undefined);

  await t.rejects(describe(ssm, { MaxResults: 4 }), {
    name: 'ValidationException',
    message: "1 validation error detected: Value '4' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 5",
  });
  await t.rejects(describe(ssm, { MaxResults: 51 }), { name: 'ValidationException', message: /less than or equal to 50/ });
  await t.rejects(describe(ssm, { NextToken: 'not-a-token' }), { name: 'InvalidNextToken' });
  await t.rejects(
    describe(ssm, { NextToken: first.NextToken!, Filters: [{ Key: 'PingStatus', Values: ['Online'] }] }),
    { name: 'InvalidNextToken' },
    'a token from another query is refused',
  );
  const second = await describe(ssm, { NextToken: first.NextToken! });
  t.same(ids(second.InstanceInformationList), fleet().slice(10, 20).map((i) => i.id), 'the token continues its own query');
});

t.test('errors as the real API types them', async (t) => {
  const { sim, ssm } = await simulator(t);
  for (const Key of ['bogus', 'tag:', 'tag-keys', 'Tag Key', 'instanceids']) {
    await t.rejects(describe(ssm, { Filters: [{ Key, Values: ['x'] }] }), { name: 'InvalidFilterKey' }, `key ${JSON.stringify(Key)}`);
  }
  await t.rejects(describe(ssm, { Filters: [{ Key: 'PingStatus', Values: ['Sleeping'] }] }), {
    name: 'InvalidInstanceInformationFilterValue',
    message: /Sleeping/,
  });
  await t.rejects(describe(ssm, { Filters: [{ Key: 'PlatformTypes', Values: ['Linux', 'BeOS'] }] }), {
    name: 'InvalidInstanceInformationFilterValue',
  });
  await t.rejects(
    describe(ssm, { Filters: [{ Key: 'tag:Name', Values: ['sim-web'] }, { Key: 'PingStatus', Values: ['Online'] }] }),
    { name: 'InvalidInstanceInformationFilterValue', message: /can't be combined/ },
    'tag filters do not combine with other filter types',
  );
  await t.rejects(
    describe(ssm, { Filters: [{ Key: 'PingStatus', Values: ['Online'] }], InstanceInformationFilterList: [{ key: 'PingStatus', valueSet: ['Online'] }] }),
    { name: 'InvalidInstanceInformationFilterValue' },
    'Filters and InstanceInformationFilterList not together',
  );
  await t.rejects(describe(ssm, { Filters: [{ Key: 'InstanceIds', Values: ['i-123'] }] }), { name: 'InvalidInstanceId' });
  await t.rejects(describe(ssm, { Filters: [{ Key: 'tag:Name', Values: [] }] }), { name: 'ValidationException' });
  await t.rejects(describe(ssm, { Filters: [{ Key: 'tag:Name', Values: Array.from({ length: 101 }, (_, n) => `v${n}`) }] }), {
    name: 'ValidationException',
    message: /less than or equal to 100/,
  });
  // What the SDK would not send as typed: a legacy key outside its enum.
  const raw = await callTarget(sim.endpoint, 'AmazonSSM.DescribeInstanceInformation', {
    InstanceInformationFilterList: [{ key: 'tag:Name', valueSet: ['sim-web'] }],
  });
  t.equal(raw.status, 400);
  t.equal(raw.json.__type, 'ValidationException');
  t.match(raw.json.message, /enum value set/);
  t.same(
    sim.apiCalls.filter((c) => c.operation === 'DescribeInstanceInformation').map((c) => c.status),
    Array(13).fill(400),
    'every refusal recorded as a 400',
  );
});

t.test('StartSession: a registered instance must be Online; unregistered ids still work', async (t) => {
  const { sim, ssm } = await simulator(t, { disconnectedTargets: ['i-0fffffffffffffff0'] });
  const startOn = (Target: string) => ssm.send(new StartSessionCommand({ Target, DocumentName: 'AWS-StartNonInteractiveCommand', Parameters: { command: ['true'] } }));
  await t.rejects(startOn('i-0c1d2e3f4a5b60000'), { name: 'TargetNotConnected', message: 'i-0c1d2e3f4a5b60000 is not connected.' });
  await t.rejects(startOn('i-0fffffffffffffff0'), { name: 'TargetNotConnected' });
  t.equal(sim.instances.get('i-0fffffffffffffff0')?.pingStatus, 'ConnectionLost', 'disconnectedTargets are listed as ConnectionLost');
  t.match((await startOn('i-0123456789abcdef0')).SessionId, /^sim-/, 'the default target');
  t.match((await startOn('i-0eeeeeeeeeeeeeee0')).SessionId, /^sim-/, 'an unregistered well-formed id');
  sim.instances.setPingStatus('i-0c1d2e3f4a5b60000', 'Online');
  t.match((await startOn('i-0c1d2e3f4a5b60000')).SessionId, /^sim-/, 'back Online');
  sim.instances.setPingStatus('i-0123456789abcdef0', 'Inactive');
  await t.rejects(startOn('i-0123456789abcdef0'), { name: 'TargetNotConnected' }, 'Inactive');
});

t.test('parseInstanceSpec: the CLI form', async (t) => {
  t.same(parseInstanceSpec('i-0123456789abcdef2'), { id: 'i-0123456789abcdef2', tags: {} });
  t.same(parseInstanceSpec('i-01234567:Name=web,env=prod,url=a=b:c'), { id: 'i-01234567', tags: { Name: 'web', env: 'prod', url: 'a=b:c' } });
  t.same(parseInstanceSpec('mi-0123456789abcdef2:flag'), { id: 'mi-0123456789abcdef2', tags: { flag: '' } });
  t.throws(() => parseInstanceSpec('web:Name=web'), /not an instance id/);
  t.throws(() => parseInstanceSpec('i-0123456789abcdef2:=x'), /empty tag key/);
});

t.test('the simulator CLI: --instance, --connection-lost, --no-default-instances', async (t) => {
  const node = process.execPath;
  const cli = start(
    node,
    [
      path.join(ROOT, 'src/simulator/cli.ts'),
      '--no-default-instances',
      '--instance',
      'i-0123456789abcdef2:Name=web,env=prod',
      '--instance',
      'mi-0123456789abcdef3:Name=edge',
      '--connection-lost',
      'mi-0123456789abcdef3',
    ],
    { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, timeoutMs: 30_000 },
  );
  t.teardown(() => cli.kill());
  const endpoint = await waitFor(() => /^(http:\/\/127\.0\.0\.1:\d+)\n/.exec(cli.stdout().toString())?.[1], {
    what: 'the simulator endpoint on stdout',
    timeoutMs: 20_000,
    abort: () => (cli.exited() ? 'the simulator exited' : undefined),
    context: () => cli.stderr().toString(),
  });
  await waitFor(() => cli.stderr().toString().includes('mi-0123456789abcdef3'), { what: 'the instance list', timeoutMs: 5000 });
  t.match(cli.stderr().toString(), /i-0123456789abcdef2 +Online +Name=web,env=prod\n/, 'the start-up message lists the instances');
  const ssm = new SSMClient({ region: REGION, endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }, maxAttempts: 1 });
  t.teardown(() => ssm.destroy());
  const out = await describe(ssm, {});
  t.same(
    (out.InstanceInformationList ?? []).map((i) => [i.InstanceId, i.PingStatus]),
    [
      ['i-0123456789abcdef2', 'Online'],
      ['mi-0123456789abcdef3', 'ConnectionLost'],
    ],
  );
  t.same(ids((await describe(ssm, { Filters: [{ Key: 'tag:env', Values: ['prod'] }] })).InstanceInformationList), ['i-0123456789abcdef2']);

  const bad = await start(node, [path.join(ROOT, 'src/simulator/cli.ts'), '--instance', 'web'], {
    env: { PATH: process.env.PATH ?? '' },
    timeoutMs: 20_000,
  }).result;
  t.equal(bad.code, 1, 'a malformed --instance fails');
  t.match(bad.stderr.toString(), /^ssm-simulator: not an instance id: "web"\n$/);
});

t.test('the real AWS CLI: describe-instance-information against the simulator', { skip: AWS ? false : 'aws CLI not on PATH' }, async (t) => {
  const { sim } = await simulator(t, { instances: [...DEFAULT_INSTANCES, ...fleet()] });
  const sandbox = createSandbox();
  t.teardown(() => sandbox.remove());
  const aws = async (...args: string[]) => {
    const run = await start(AWS!, ['ssm', 'describe-instance-information', '--endpoint-url', sim.endpoint, '--output', 'json', ...args], {
      env: sandbox.env(),
      timeoutMs: 30_000,
    }).result;
    return { code: run.code, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
  };

  const workers = await aws('--filters', 'Key=tag:Name,Values=sim-worker');
  t.equal(workers.code, 0, workers.stderr);
  t.same(
    JSON.parse(workers.stdout).InstanceInformationList.map((i: InstanceInformation) => i.InstanceId),
    ['i-0a1b2c3d4e5f60718', 'i-0a1b2c3d4e5f60719'],
    'tag filter (the CLI follows the short pages)',
  );

  const pages = () => sim.apiCalls.filter((c) => c.operation === 'DescribeInstanceInformation' && c.status === 200).length;
  const before = pages();
  const all = await aws('--page-size', '5');
  t.equal(all.code, 0, all.stderr);
  const listed = JSON.parse(all.stdout).InstanceInformationList as Array<Record<string, unknown>>;
  t.equal(listed.length, DEFAULT_INSTANCES.length + 23, 'every instance, 5 per request');
  t.equal(pages() - before, Math.ceil(listed.length / 5), 'one request per page of 5');
  t.match(listed[0], { InstanceId: 'i-0123456789abcdef0', PingStatus: 'Online', PlatformType: 'Linux', ResourceType: 'EC2Instance' });

  const legacy = await aws('--instance-information-filter-list', 'key=PingStatus,valueSet=ConnectionLost', '--query', 'InstanceInformationList[].InstanceId');
  t.equal(legacy.code, 0, legacy.stderr);
  t.same(JSON.parse(legacy.stdout), ['i-0c1d2e3f4a5b60000', ...fleet().filter((i) => i.pingStatus === 'ConnectionLost').map((i) => i.id)]);

  const bad = await aws('--filters', 'Key=tag-keys,Values=Name');
  t.not(bad.code, 0, 'an invalid filter key fails');
  t.match(bad.stderr, /An error occurred \(InvalidFilterKey\) when calling the DescribeInstanceInformation operation/);
});
