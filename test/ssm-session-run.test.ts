// `ssm-session run` end to end: the CLI as a real process (from source) against the
// simulator, AWS-StartNonInteractiveCommand with separate streams. The remote command's
// exit status becomes ours, its stdout and stderr stay apart byte for byte; targets by
// tag; failures as one line with the right exit status and no token.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.ts';
import { createSandbox, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { cliEnv, runCli, sha256, startCli, startedSessions, type TestContext } from './helpers/ssm-session-cli.ts';

const TARGET = 'i-0123456789abcdef0';
const MiB = 1024 * 1024;

async function setup(t: TestContext, options: SimulatorOptions = {}): Promise<{ sim: Simulator; sandbox: Sandbox; env: NodeJS.ProcessEnv }> {
  // No 1 s wait before a command's first output (the agent's shell delay): these tests start many commands.
  const sim = await startSimulator({ pacing: false, frameLogLimit: 0, shellDelayMs: 0, tls: true, ...options });
  const sandbox = createSandbox();
  t.teardown(async () => {
    await sim.close();
    sandbox.remove();
  });
  return { sim, sandbox, env: cliEnv(sandbox, sim) };
}

/** Session tokens the simulator handed out: none may appear in any output. */
function tokens(sim: Simulator): string[] {
  return [...sim.sessions.values()].map((s) => s.token);
}

t.test('exit status and separate stdout / stderr', async (t) => {
  const { sim, env } = await setup(t);
  const result = await runCli(t, ['run', TARGET, '--', 'echo out-$((40+2)); echo err-line >&2; exit 7'], env);
  t.equal(result.code, 7, 'exits with the remote command status (7)', { run: result.describe });
  t.equal(result.stdout.toString(), 'out-42\n', 'stdout is exactly the command stdout');
  t.equal(result.stderr, 'err-line\n', 'stderr is exactly the command stderr (no banner, no notice)');
  const [started] = startedSessions(sim);
  t.same(
    started,
    { target: TARGET, document: 'AWS-StartNonInteractiveCommand', parameters: { command: ['echo out-$((40+2)); echo err-line >&2; exit 7'], separateOutputStream: ['true'] } },
    'one StartSession: AWS-StartNonInteractiveCommand with separateOutputStream',
  );

  const ok = await runCli(t, ['run', TARGET, '--', 'true'], env);
  t.equal(ok.code, 0, 'a command that succeeds exits 0', { run: ok.describe });
  const words = await runCli(t, ['run', TARGET, '--', 'printf', '%s,', 'a', 'b c'], env);
  t.equal(words.stdout.toString(), 'a,b,c,', 'words after -- are joined with spaces and parsed by the remote shell, as with ssh');
  for (const secret of tokens(sim)) {
    t.notOk(`${result.stdout}${result.stderr}${ok.stderr}${words.stderr}`.includes(secret), 'no session token in any output');
  }
});

t.test('megabytes on both streams arrive intact and apart (SHA-256)', async (t) => {
  const { sandbox, env } = await setup(t);
  const out = randomBytes(3 * MiB);
  const err = randomBytes(2 * MiB + 77);
  const outFile = path.join(sandbox.dir, 'out.bin');
  const errFile = path.join(sandbox.dir, 'err.bin');
  writeFileSync(outFile, out);
  writeFileSync(errFile, err);
  const result = await runCli(t, ['run', TARGET, '--', `cat ${outFile}; cat ${errFile} >&2; exit 3`], env, { timeoutMs: 60_000 });
  t.equal(result.code, 3, 'exit status 3', { run: result.describe.slice(0, 2000) });
  t.equal(result.stdout.length, out.length, 'stdout length');
  t.equal(sha256(result.stdout), sha256(out), 'stdout SHA-256 equals the remote file');
  t.equal(result.stderrBytes.length, err.length, 'stderr length');
  t.equal(sha256(result.stderrBytes), sha256(err), 'stderr SHA-256 equals the other remote file');
});

t.test('targets by tag: Name=, tag:KEY=VALUE, ambiguous and unknown tags', async (t) => {
  const { sim, env } = await setup(t, {
    instances: [
      { id: 'i-0aaaaaaaaaaaaaaa1', tags: { Name: 'web', Role: 'frontend' } },
      { id: 'i-0bbbbbbbbbbbbbbb2', tags: { Name: 'worker', Role: 'batch' } },
      { id: 'i-0bbbbbbbbbbbbbbb3', tags: { Name: 'worker', Role: 'batch' } },
    ],
  });
  const byName = await runCli(t, ['run', 'Name=web', '--', 'echo hi'], env);
  t.equal(byName.code, 0, 'Name=web runs', { run: byName.describe });
  t.equal(byName.stdout.toString(), 'hi\n', 'with the command output on stdout');
  t.match(byName.stderr, /^Target Name=web: i-0aaaaaaaaaaaaaaa1\b.*\n$/, 'stderr names the instance chosen');
  const byTag = await runCli(t, ['-q', 'run', 'tag:Role=frontend', '--', 'echo hi'], env);
  t.equal(byTag.code, 0, 'tag:Role=frontend runs', { run: byTag.describe });
  t.equal(byTag.stderr, '', '-q: nothing on stderr');
  t.same(
    startedSessions(sim).map((s) => s.target),
    ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa1'],
    'both sessions went to the tagged instance',
  );

  const ambiguous = await runCli(t, ['run', 'Name=worker', '--', 'true'], env);
  t.equal(ambiguous.code, 1, 'an ambiguous tag exits 1', { run: ambiguous.describe });
  t.match(ambiguous.stderr, /^ssm-session: .*Name=worker.*\n/, 'with a line saying so');
  t.match(ambiguous.stderr, /i-0bbbbbbbbbbbbbbb2/, 'listing the first match');
  t.match(ambiguous.stderr, /i-0bbbbbbbbbbbbbbb3/, 'and the second');
  const unknown = await runCli(t, ['run', 'tag:Role=none', '--', 'true'], env);
  t.equal(unknown.code, 1, 'an unknown tag exits 1');
  t.match(unknown.stderr, /^ssm-session: [^\n]*Role=none[^\n]*\n$/, 'one line naming the tag');
  t.equal(startedSessions(sim).length, 2, 'no session was started for them');
});

t.test('failures: one line, exit 1 (2 for usage), no stack trace', async (t) => {
  const { sandbox, sim } = await setup(t, { disconnectedTargets: ['i-0ffffffffffffffff'] });
  const env = cliEnv(sandbox, sim);
  const checks: Array<[string, string[], NodeJS.ProcessEnv, number, RegExp]> = [
    ['an unreachable endpoint', ['run', TARGET, '--endpoint-url', 'http://127.0.0.1:9', '--', 'true'], env, 1, /^ssm-session: StartSession on i-0123456789abcdef0 failed: .*ECONNREFUSED.*\n$/],
    ['a disconnected target', ['run', 'i-0ffffffffffffffff', '--', 'true'], env, 1, /^ssm-session: StartSession on i-0ffffffffffffffff failed: TargetNotConnected.*\n$/],
    ['a malformed instance id', ['run', 'i-xyz', '--', 'true'], env, 1, /^ssm-session: "i-xyz" is not a valid instance id.*\n$/],
    ['no command', ['run', TARGET], env, 2, /^ssm-session: run: give the command after --.*\nTry 'ssm-session --help'/],
    ['an unknown option', ['run', TARGET, '--bogus', '--', 'true'], env, 2, /^ssm-session: Unknown argument: bogus\n/],
  ];
  for (const [what, args, runEnv, code, pattern] of checks) {
    const result = await runCli(t, args, runEnv);
    t.equal(result.code, code, `${what}: exit ${code}`, { run: result.describe });
    t.match(result.stderr, pattern, `${what}: the message`);
    t.notMatch(result.stderr, /\n\s+at |Error:|\{/, `${what}: no stack trace or raw object`);
    t.equal(result.stdout.length, 0, `${what}: nothing on stdout`);
  }
});

t.test('--stats: a summary line after the command, on stderr', async (t) => {
  const { sim, env } = await setup(t);
  const result = await runCli(t, ['--stats', 'run', TARGET, '--', 'echo hi'], env);
  t.equal(result.code, 0, 'exit 0', { run: result.describe });
  t.equal(result.stdout.toString(), 'hi\n', 'stdout unchanged');
  const [session] = sim.sessions.keys();
  t.match(
    result.stderr,
    new RegExp(`^session ${session}: rtt [\\d.]+ ms, \\d+ retransmissions, [\\d.]+ [kM]?B in, [\\d.]+ [kM]?B out, 0 reconnects\\n$`),
    'one summary line: RTT, retransmissions, bytes, reconnects',
  );
});

t.test('a reader that goes away (| head): exit 141 quietly, the session terminated', async (t) => {
  const { sim, env } = await setup(t);
  const cli = startCli(t, ['run', TARGET, '--', 'seq 1 5000000'], env);
  cli.child.stdin.end();
  await new Promise<void>((resolve) => cli.child.stdout.once('data', () => resolve()));
  cli.child.stdout.destroy(); // as `head -1` exits
  const exit = await cli.exit;
  t.same(exit, { code: 141, signal: null }, 'exit 141, as a local command killed by SIGPIPE', { run: cli.describe() });
  t.equal(cli.stderr(), '', 'no message, no stack trace');
  const [session] = sim.sessions.values();
  t.equal(session?.status, 'terminated', 'the session was terminated');
  t.ok(sim.apiCalls.some((c) => c.operation === 'TerminateSession'), 'with TerminateSession');
});
