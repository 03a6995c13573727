// `ssm-session list` end to end against the simulator's managed instances: the table,
// --json for scripts, filters (tag filters to the API, the others matched locally), names
// from EC2 DescribeTags (i-) and SSM ListTagsForResource (mi-), as the real service keeps
// them (DescribeInstanceInformation has no tags), and what happens when tags cannot be
// read. The simulator's tag answers are also read by the real AWS CLI, an independent
// client of both protocols (EC2's XML, SSM's JSON).
import t from 'tap';
import { spawn } from 'node:child_process';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createSandbox, findOnPath } from './helpers/aws-cli-sandbox.ts';
import { cliEnv, runCli, unusedPort, type TestContext } from './helpers/ssm-session-cli.ts';

async function setup(t: TestContext): Promise<{ sim: Simulator; env: NodeJS.ProcessEnv; sandbox: ReturnType<typeof createSandbox> }> {
  const sim = await startSimulator({ frameLogLimit: 0, tls: true });
  const sandbox = createSandbox();
  t.teardown(async () => {
    await sim.close();
    sandbox.remove();
  });
  return { sim, env: cliEnv(sandbox, sim, { AWS_ENDPOINT_URL_EC2: sim.httpsEndpoint as string }), sandbox };
}

/** The calls that served the listing: service and operation. */
const calls = (sim: Simulator): string[] => sim.apiCalls.map((c) => `${c.service} ${c.operation} ${c.status}`);

t.test('a table of every managed instance, Online first, with Name tags', async (t) => {
  const { sim, env } = await setup(t);
  const result = await runCli(t, ['list'], env);
  t.equal(result.code, 0, 'exits 0', { run: result.describe });
  t.equal(result.stderr, '');
  t.equal(
    result.stdout.toString(),
    [
      'ID                    NAME         PING            PLATFORM           ADDRESS        AGENT',
      'mi-0123456789abcdef1  sim-onprem   Online          Ubuntu 24.04       10.181.210.51  3.3.987.0',
      'i-0123456789abcdef0   sim-web      Online          Amazon Linux 2023  10.87.223.116  3.3.987.0',
      'i-0a1b2c3d4e5f60718   sim-worker   Online          Amazon Linux 2023  10.52.183.106  3.3.987.0',
      'i-0a1b2c3d4e5f60719   sim-worker   Online          Amazon Linux 2023  10.90.124.211  3.3.987.0',
      'i-0c1d2e3f4a5b60000   sim-stopped  ConnectionLost  Amazon Linux 2023  10.199.6.163   3.3.987.0',
      '',
    ].join('\n'),
  );
  t.same(
    calls(sim),
    ['ssm DescribeInstanceInformation 200', 'ec2 DescribeTags 200', 'ssm ListTagsForResource 200'],
    'one listing, EC2 tags for the i- instances, SSM tags for the mi- one',
  );
  const describeTags = sim.apiCalls.find((c) => c.operation === 'DescribeTags')?.body as Record<string, string>;
  t.match(describeTags, { 'Filter.1.Name': 'resource-type', 'Filter.1.Value.1': 'instance', 'Filter.2.Name': 'resource-id' });
  t.same(
    Object.entries(describeTags).filter(([key]) => key.startsWith('Filter.2.Value.')).map(([, id]) => id).sort(),
    ['i-0123456789abcdef0', 'i-0a1b2c3d4e5f60718', 'i-0a1b2c3d4e5f60719', 'i-0c1d2e3f4a5b60000'],
    'the EC2 ids asked for by name',
  );
});

t.test('--json and filters', async (t) => {
  const { sim, env } = await setup(t);
  const result = await runCli(t, ['list', '--json', '--filter', 'tag:Role=worker'], env);
  t.equal(result.code, 0, 'exits 0', { run: result.describe });
  const listed = JSON.parse(result.stdout.toString()) as Array<Record<string, unknown>>;
  t.same(
    listed.map((i) => [i.id, i.name, i.pingStatus, i.platformType, i.tags]),
    [
      ['i-0a1b2c3d4e5f60718', 'sim-worker', 'Online', 'Linux', { Name: 'sim-worker', Environment: 'dev', Role: 'worker' }],
      ['i-0a1b2c3d4e5f60719', 'sim-worker', 'Online', 'Linux', { Name: 'sim-worker', Environment: 'dev', Role: 'worker' }],
    ],
  );
  t.match(listed[0], { platform: 'Amazon Linux 2023', ipAddress: /^10\./, computerName: /\.ec2\.internal$/, agentVersion: '3.3.987.0', resourceType: 'EC2Instance' });
  const filters = (sim.apiCalls.find((c) => c.operation === 'DescribeInstanceInformation')?.body as { Filters?: unknown }).Filters;
  t.same(filters, [{ Key: 'tag:Role', Values: ['worker'] }], 'a tag filter goes to the API');

  const mixed = await runCli(t, ['list', '--json', '--filter', 'Environment=dev', '--filter', 'PingStatus=ConnectionLost'], env);
  t.same(JSON.parse(mixed.stdout.toString()).map((i: { id: string }) => i.id), ['i-0c1d2e3f4a5b60000'], 'KEY=VALUE is a tag; PingStatus is matched here');
  const none = await runCli(t, ['list', '--filter', 'Name=nothing'], env);
  t.same([none.code, none.stdout.toString(), none.stderr], [0, '', 'no managed instances match\n']);
  const bad = await runCli(t, ['list', '--filter', 'nonsense'], env);
  t.equal(bad.code, 2, 'a filter that is none of the forms: usage error');
});

t.test('tags that cannot be read: the list still comes, without names, and says why', async (t) => {
  const { env } = await setup(t);
  const port = await unusedPort();
  const result = await runCli(t, ['list', '--json'], { ...env, AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${port}` });
  t.equal(result.code, 0, 'exits 0', { run: result.describe });
  const listed = JSON.parse(result.stdout.toString()) as Array<{ id: string; name?: string; tags?: unknown }>;
  t.equal(listed.length, 5, 'every instance');
  t.same(listed.map((i) => [i.name, i.tags]).filter(([name]) => name !== undefined), [['sim-onprem', undefined]], "only the hybrid instance's activation name");
  t.match(result.stderr, /^ssm-session: instance tags \(and so names\) are not shown: .*ECONNREFUSED/);
  t.equal(result.stderr.split('\n').length, 2, 'one line');
});

t.test("the AWS CLI reads the simulator's tag answers", async (t) => {
  const aws = findOnPath('aws');
  if (!aws) {
    t.fail('aws (AWS CLI) is not on PATH; .ci/run installs it');
    return;
  }
  const { sim, sandbox } = await setup(t);
  const env = sandbox.env();
  // Asynchronously: the simulator answers from this process.
  const run = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(aws, [...args, '--endpoint-url', sim.httpsEndpoint as string, '--output', 'json'], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  const json = async (args: string[]): Promise<unknown> => {
    const result = await run(args);
    t.equal(result.status, 0, `aws ${args.join(' ')}`, { stderr: result.stderr });
    return JSON.parse(result.stdout || 'null');
  };
  t.same(await json(['ec2', 'describe-tags', '--filters', 'Name=resource-id,Values=i-0123456789abcdef0']), {
    Tags: [
      { Key: 'Name', ResourceId: 'i-0123456789abcdef0', ResourceType: 'instance', Value: 'sim-web' },
      { Key: 'Environment', ResourceId: 'i-0123456789abcdef0', ResourceType: 'instance', Value: 'dev' },
      { Key: 'Role', ResourceId: 'i-0123456789abcdef0', ResourceType: 'instance', Value: 'web' },
    ],
  });
  t.same(await json(['ssm', 'list-tags-for-resource', '--resource-type', 'ManagedInstance', '--resource-id', 'mi-0123456789abcdef1']), {
    TagList: [
      { Key: 'Name', Value: 'sim-onprem' },
      { Key: 'Environment', Value: 'lab' },
    ],
  });
  const refused = await run(['ssm', 'list-tags-for-resource', '--resource-type', 'ManagedInstance', '--resource-id', 'i-0123456789abcdef0']);
  t.match(refused.stderr, /InvalidResourceId/, 'an EC2 instance is not an SSM managed-instance resource');
});
