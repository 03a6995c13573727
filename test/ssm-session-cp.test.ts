// `ssm-session cp` end to end: the CLI as a real process (from source) against the
// simulator. Both directions to an instance (by Name tag) and to an ECS container, nothing
// on stdout, progress and a summary with --stats, one-line errors with exit status 1,
// usage mistakes with 2, and Ctrl-C: exit 130, the partial file kept, the next run resumes.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createSandbox } from './helpers/aws-cli-sandbox.ts';
import { cliEnv, runCli, sourceCommand, startCli, type TestContext } from './helpers/ssm-session-cli.ts';
import { openTerminal } from './helpers/ssm-session-pty.ts';
import { printable, waitFor } from './helpers/wait.ts';

const TASK = '0123456789abcdef0123456789abcdef';
const WINDOWS = 'i-0aaaaaaaaaaaaaaa1';
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** `slow`: the agent's pacing and its 1 s wait before a terminal's first output (ECS sessions last a while). */
async function setup(t: TestContext, slow = false): Promise<{ sim: Simulator; env: NodeJS.ProcessEnv; dir: string }> {
  const sim = await startSimulator({ pacing: slow, frameLogLimit: 0, shellDelayMs: slow ? 1000 : 0, tls: true });
  const sandbox = createSandbox();
  const dir = mkdtempSync(path.join(tmpdir(), 'ssm-session-cp-'));
  t.teardown(async () => {
    await sim.close();
    sandbox.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  sim.ecs.addTask({ cluster: 'prod', taskId: TASK, containers: ['web'] });
  return { sim, env: cliEnv(sandbox, sim, { AWS_ENDPOINT_URL_EC2: sim.httpsEndpoint as string }), dir };
}

function payload(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
  return data;
}

t.test('down and up, instance by Name tag and ECS container: the same bytes, a quiet stdout', async (t) => {
  const { sim, env, dir } = await setup(t);
  const data = payload(100_000);
  const remote = path.join(dir, 'remote.bin');
  writeFileSync(remote, data);
  for (const target of ['Name=sim-web', `ecs:prod/${TASK}/web`]) {
    const local = path.join(dir, 'local.bin');
    const down = await runCli(t, ['cp', '--range-size', '32K', `${target}:${remote}`, local], env);
    t.equal(down.code, 0, `${target}: download exits 0`, { run: down.describe });
    t.equal(down.stdout.length, 0, 'nothing on stdout');
    t.equal(down.stderr, `Target ${target}: ${target.startsWith('ecs:') ? target : 'i-0123456789abcdef0 (Name=sim-web)'}\n`, 'only the target line');
    t.equal(sha(readFileSync(local)), sha(data), 'downloaded');
    const uploaded = path.join(dir, 'uploaded.bin');
    const up = await runCli(t, ['-q', 'cp', '--pool', '2', '--range-size', '32K', local, `${target}:${uploaded}`], env);
    t.equal(up.code, 0, `${target}: upload exits 0`, { run: up.describe });
    t.equal(`${up.stdout}${up.stderr}`, '', '-q: nothing at all');
    t.equal(sha(readFileSync(uploaded)), sha(data), 'uploaded');
    rmSync(local);
    rmSync(uploaded);
  }
  t.ok(sim.apiCalls.some((c) => c.operation === 'ExecuteCommand'), 'the container through ECS exec');
});

t.test('--stats: a summary naming the SHA-256', async (t) => {
  const { env, dir } = await setup(t);
  const data = payload(70_000);
  writeFileSync(path.join(dir, 'src'), data);
  const result = await runCli(t, ['--stats', 'cp', `i-0123456789abcdef0:${path.join(dir, 'src')}`, path.join(dir, 'dst')], env);
  t.equal(result.code, 0, 'exits 0', { run: result.describe });
  t.match(result.stderr, new RegExp(`dst: 70 kB in [\\d.]+ s \\(.*\\), SHA-256 ${sha(data)} checked on both ends, 2 sessions\\n$`), 'the summary');
});

t.test('errors: one line, exit 1; usage mistakes: exit 2', async (t) => {
  const { sim, env, dir } = await setup(t);
  sim.instances.add({ id: WINDOWS, platformType: 'Windows' });
  // 8 TiB that take no room here (a sparse file): more than the target's disk (this machine's) has free.
  const huge = path.join(dir, 'huge.bin');
  writeFileSync(huge, '');
  truncateSync(huge, 2 ** 43);
  writeFileSync(path.join(dir, 'file'), 'x');
  const failures: Array<[string[], RegExp]> = [
    [['cp', `i-0123456789abcdef0:${dir}/missing`, dir], /^ssm-session: i-0123456789abcdef0:.*\/missing: no such file or directory\n$/],
    [['cp', `i-0123456789abcdef0:${dir}`, dir], /^ssm-session: i-0123456789abcdef0:.*: is a directory \(cp copies single files\)\n$/],
    [['cp', path.join(dir, 'file'), 'i-0123456789abcdef0:/sys/'], /^ssm-session: i-0123456789abcdef0:\/sys\/: permission denied\n$/],
    [['cp', path.join(dir, 'nope'), 'i-0123456789abcdef0:/tmp/'], /^ssm-session: .*\/nope: no such file or directory\n$/],
    [['cp', path.join(dir, 'file'), 'Name=no-such-name:/tmp/'], /^ssm-session: no managed instance has the tag Name=no-such-name/],
    [['cp', huge, `i-0123456789abcdef0:${dir}/`], /^ssm-session: i-0123456789abcdef0:.*\/: no space left on the target disk\n$/],
    [['cp', `${WINDOWS}:C:/x.txt`, dir], /^ssm-session: i-0aaaaaaaaaaaaaaa1 is a Windows target: cp works with Linux and macOS targets \(it needs sh\)\n$/],
    [['cp', path.join(dir, 'file'), `${WINDOWS}:C:/x.txt`], /^ssm-session: i-0aaaaaaaaaaaaaaa1 is a Windows target/],
  ];
  for (const [args, message] of failures) {
    const result = await runCli(t, args, env);
    t.equal(result.code, 1, `exit 1: ${args.join(' ')}`, { run: result.describe });
    t.match(result.stderr, message);
    t.equal(result.stderr.split('\n').length, 2, 'one line');
  }
  t.notOk(existsSync(path.join(dir, '.huge.bin.ssm-part')), 'no partial file made where it cannot fit');
  const mistakes: Array<[string[], RegExp]> = [
    [['cp', 'a', 'b'], /neither side is TARGET:PATH/],
    [['cp', 'i-0123456789abcdef0:/a', 'Name=x:/b'], /both sides are on targets/],
    [['cp', '-r', 'dir', 'i-0123456789abcdef0:/tmp/'], /-r is not supported, cp copies single files/],
    [['cp', '--range-size', '10', 'a', 'i-0123456789abcdef0:/b'], /--range-size: a size from 4K to 1G/],
    [['cp', '--pool', '0', 'a', 'i-0123456789abcdef0:/b'], /--pool: a whole number/],
    [['cp', 'a', ':/tmp/b'], /cp: no TARGET given \(without a terminal there is no picker/],
    [['cp', 'a', 'ecs:prod/x'], /has no :PATH after the target/],
  ];
  for (const [args, message] of mistakes) {
    const result = await runCli(t, args, env);
    t.equal(result.code, 2, `exit 2: ${args.join(' ')}`, { run: result.describe });
    t.match(result.stderr, message);
  }
});

t.test('Ctrl-C: exit 130, every session ended, the partial file kept; the same command resumes', async (t) => {
  const { sim, env, dir } = await setup(t, true);
  const data = payload(8 * 8192);
  const remote = path.join(dir, 'remote.bin');
  writeFileSync(remote, data);
  const local = path.join(dir, 'local.bin');
  const args = ['--stats', 'cp', '--pool', '2', '--range-size', '8K', `ecs:prod/${TASK}/web:${remote}`, local];
  const cli = startCli(t, args, env);
  // --stats without a terminal: a progress line every 2 s, with exact byte counts.
  await waitFor(() => /^remote\.bin [1-9]\d?% \d+ of 65536 bytes /m.exec(cli.stderr()), {
    what: 'some progress',
    timeoutMs: 30_000,
    context: cli.describe,
    abort: () => (cli.exited ? 'ssm-session exited' : undefined),
  });
  cli.child.kill('SIGINT');
  const exit = await cli.exit;
  t.equal(exit.code, 130, 'exit 130', { run: cli.describe() });
  t.match(cli.stderr(), /ssm-session: the copy was interrupted; the partial file .*\.local\.bin\.ssm-part is kept: run the same command again to resume\n$/);
  t.notOk(existsSync(local), 'nothing under the final name');
  t.ok(existsSync(path.join(dir, '.local.bin.ssm-part')), 'the partial file');
  await waitFor(() => [...sim.sessions.values()].every((s) => s.status !== 'active'), { what: 'the sessions to end', timeoutMs: 10_000 });

  const again = await runCli(t, args, env);
  t.equal(again.code, 0, 'the same command completes it', { run: again.describe });
  t.match(again.stderr, /^resuming: [\d.]+ kB of the partial file already match\n/m, 'the ranges already there are not carried again');
  t.match(again.stderr, / were already there, SHA-256 [0-9a-f]{64} checked on both ends/);
  t.equal(sha(readFileSync(local)), sha(data));
  t.notOk(existsSync(path.join(dir, '.local.bin.ssm-part')), 'no partial file left');
});

t.test('in a terminal: a live progress line (percentage, bytes, rate, time left, sessions), then the summary', async (t) => {
  const { env, dir } = await setup(t, true);
  const data = payload(16 * 8192);
  const remote = path.join(dir, 'remote.bin');
  writeFileSync(remote, data);
  const local = path.join(dir, 'local.bin');
  // Paced terminal sessions of a second or more each (an ECS container), two at a time: several seconds in all.
  const term = openTerminal(t, sourceCommand(), ['cp', '--pool', '2', '--range-size', '8K', `ecs:prod/${TASK}/web:${remote}`, local], env, { timeoutMs: 30_000 });
  const live = await term.after(0, /remote\.bin ([1-9]\d?)% ([\d.]+) kB of 131 kB [\d.]+ k?B\/s ETA \d+s ([12]) sessions?/, 'a progress line with the time left');
  t.ok(Number(live[2]) > 0 && Number(live[2]) < 131, `part of the file: ${live[0]}`);
  await term.exited;
  t.equal(term.exit()?.exitCode, 0, 'exit 0', { screen: printable(term.screen()) });
  t.match(term.screen(), new RegExp(`local\\.bin: 131 kB in [\\d.]+ s \\(.*\\), SHA-256 ${sha(data)} checked on both ends, 17 sessions\\r?\\n`), 'the summary');
  t.equal(sha(readFileSync(local)), sha(data));
});
