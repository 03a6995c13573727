// `ssm-session run` end to end: the CLI as a real process (from source) against the
// simulator, AWS-StartNonInteractiveCommand with separate streams. The remote command's
// exit status becomes ours, its stdout and stderr stay apart byte for byte; targets by
// tag; failures as one line with the right exit status and no token. The simulated agent
// executes a command's words without a shell, as the real one does
// (agent/session/shell/shell_unix.go), so the `sh -c` wrapping is what makes shell syntax
// work, and a quoting mistake in it fails here.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.ts';
import { createSandbox, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { openHeldPipe, runIntoPipe } from './helpers/held-pipe.ts';
import { cliCommand, cliEnv, runCli, sha256, startCli, startedSessions, type TestContext } from './helpers/ssm-session-cli.ts';
import { waitFor } from './helpers/wait.ts';

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
    { target: TARGET, document: 'AWS-StartNonInteractiveCommand', parameters: { command: ["sh -c 'echo out-$((40+2)); echo err-line >&2; exit 7'"], separateOutputStream: ['true'] } },
    'one StartSession: AWS-StartNonInteractiveCommand with separateOutputStream, the command for `sh -c`',
  );
  const lookups = sim.apiCalls.filter((c) => c.operation === 'DescribeInstanceInformation');
  t.same(lookups[0]?.body, { Filters: [{ Key: 'InstanceIds', Values: [TARGET] }], MaxResults: 5 }, 'the platform from one lookup');

  const ok = await runCli(t, ['run', TARGET, '--', 'true'], env);
  t.equal(ok.code, 0, 'a command that succeeds exits 0', { run: ok.describe });
  const words = await runCli(t, ['run', TARGET, '--', 'printf', '%s,', 'a', 'b c'], env);
  t.equal(words.stdout.toString(), 'a,b,c,', 'words after -- are joined with spaces and parsed by the remote shell, as with ssh');
  for (const secret of tokens(sim)) {
    t.notOk(`${result.stdout}${result.stderr}${ok.stderr}${words.stderr}`.includes(secret), 'no session token in any output');
  }
});

t.test('shell syntax survives the agent\'s word splitting: quotes, $, &&, redirections, newlines, non-ASCII', async (t) => {
  const { env } = await setup(t);
  const cases: Array<{ command: string; stdout: string; stderr?: string; code?: number }> = [
    { command: `printf '%s|' "a  b" 'c d' "it's" 'say "hi"' ''`, stdout: 'a  b|c d|it\'s|say "hi"||' },
    { command: 'x=5; echo "$x ${HOME:+home} $((x*2))" $(echo sub) `echo back`', stdout: '5 home 10 sub back\n' },
    { command: 'cd / && pwd && false || echo fallback; true && echo and', stdout: '/\nfallback\nand\n' },
    { command: 'echo to-err >&2; echo moved 1>&2 2>/dev/null; echo last', stdout: 'last\n', stderr: 'to-err\nmoved\n' },
    { command: 'echo one\necho two\n\n  echo three', stdout: 'one\ntwo\nthree\n' },
    { command: "printf 'h\u00e9llo w\u00f6rld \u65e5\u672c \ud83c\udf89\\n'; echo \u00fcn\u00ef >&2", stdout: 'h\u00e9llo w\u00f6rld \u65e5\u672c \ud83c\udf89\n', stderr: '\u00fcn\u00ef\n' },
    { command: "printf '%s\\n' 'C:\\path\\to' \"tab\\there\" # a comment", stdout: 'C:\\path\\to\ntab\\there\n' },
    { command: '', stdout: '' },
    { command: 'exit 7', stdout: '', code: 7 },
    { command: 'echo before; exit 255', stdout: 'before\n', code: 255 },
    { command: 'kill -9 $$', stdout: '', code: 255 }, // killed by a signal: EXIT_CODE -1
  ];
  for (const c of cases) {
    const result = await runCli(t, ['run', TARGET, '--', c.command], env);
    const what = JSON.stringify(c.command);
    t.equal(result.code, c.code ?? 0, `${what}: exit status`, { run: result.describe });
    t.equal(result.stdout.toString('utf8'), c.stdout, `${what}: stdout`);
    t.equal(result.stderr, c.stderr ?? '', `${what}: stderr`);
  }
});

t.test('the platform: Windows targets get PowerShell; a denied lookup falls back to sh', async (t) => {
  const windows = 'i-0eeeeeeeeeeeeeee1';
  const { sim, env } = await setup(t, {
    instances: [{ id: windows, platformType: 'Windows', tags: { Name: 'win' } }],
  });
  const script = 'Get-ChildItem "C:\\Program Files" | Select-Object -First 1; exit 3';
  await runCli(t, ['run', windows, '--', script], env);
  await runCli(t, ['-q', 'run', 'Name=win', '--', script], env);
  const started = startedSessions(sim);
  t.equal(started.length, 2);
  for (const session of started) {
    const command = (session.parameters as { command: string[] }).command[0] ?? '';
    const match = /^-NoProfile -NonInteractive -EncodedCommand ([A-Za-z0-9+/=]+)$/.exec(command);
    t.ok(match, `PowerShell arguments (shell_windows.go puts powershell in front): ${command}`);
    t.equal(Buffer.from(match?.[1] ?? '', 'base64').toString('utf16le'), script, 'the script, intact');
  }
  t.equal(
    sim.apiCalls.filter((c) => c.operation === 'DescribeInstanceInformation').length,
    2,
    'one lookup for the instance id, one for the tag (which gave the platform too)',
  );

  const denied = await setup(t, { deniedActions: ['ssm:DescribeInstanceInformation'] });
  const result = await runCli(t, ['run', TARGET, '--', 'echo "$0 runs it"'], denied.env);
  t.equal(result.code, 0, 'the lookup is refused, the command still runs', { run: result.describe });
  t.equal(result.stdout.toString(), 'sh runs it\n', 'with sh, the default');
  t.equal(result.stderr, '', 'quietly');
  t.equal(denied.sim.apiCalls.find((c) => c.operation === 'DescribeInstanceInformation')?.errorType, 'AccessDeniedException');
});

t.test('a session that ends without the exit status: a clear error, not a silent 0', async (t) => {
  const { sim, env } = await setup(t);
  const cli = startCli(t, ['run', TARGET, '--', 'printf first; sleep 4; printf second; exit 3'], env);
  cli.child.stdin.end();
  const stdout: Buffer[] = [];
  cli.child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  await waitFor(() => Buffer.concat(stdout).toString() === 'first', { what: 'the first output', timeoutMs: 15_000, context: cli.describe });
  const [session] = sim.sessions.values();
  const channel = session!.agent.channel;
  // Once the client has sent its handshake answer, its size and its end of input (0-2)
  // and acked everything, nothing more comes from it: a pause now stays until the
  // command is over (any ack or input would lift it: datachannel.go).
  await waitFor(() => channel.expectedInSeq >= 3 && channel.unackedCount === 0, { what: 'a quiet client', timeoutMs: 15_000 });
  sim.publish(session!.sessionId, 'toAgent', 'pause');
  const exit = await cli.exit;
  t.equal(exit.code, 1, 'exit 1', { run: cli.describe() });
  t.equal(Buffer.concat(stdout).toString(), 'first');
  t.match(cli.stderr(), /^ssm-session: the session ended without the command's exit status .*output may be incomplete\n$/);
});

t.test('megabytes of text on both streams arrive intact and apart (SHA-256)', async (t) => {
  const { sandbox, env } = await setup(t);
  // Text: the agent holds back and reassembles UTF-8 split across its reads, so multibyte
  // characters at every alignment must arrive whole (binary output is another matter: see below).
  const text = (bytes: number) => {
    const parts: string[] = [];
    let length = 0;
    while (length < bytes) {
      const part = `${randomBytes(40).toString('base64')} € 日本語 🎉\n`;
      parts.push(part);
      length += Buffer.byteLength(part);
    }
    return Buffer.from(parts.join(''));
  };
  const out = text(3 * MiB);
  const err = text(2 * MiB + 77);
  const outFile = path.join(sandbox.dir, 'out.txt');
  const errFile = path.join(sandbox.dir, 'err.txt');
  writeFileSync(outFile, out);
  writeFileSync(errFile, err);
  const result = await runCli(t, ['run', TARGET, '--', `cat ${outFile}; cat ${errFile} >&2; exit 3`], env, { timeoutMs: 60_000 });
  t.equal(result.code, 3, 'exit status 3', { run: result.describe.slice(0, 2000) });
  t.equal(result.stdout.length, out.length, 'stdout length');
  t.equal(sha256(result.stdout), sha256(out), 'stdout SHA-256 equals the remote file');
  t.equal(result.stderrBytes.length, err.length, 'stderr length');
  t.equal(sha256(result.stderrBytes), sha256(err), 'stderr SHA-256 equals the other remote file');
});

t.test('a reader behind at the end still gets the whole output before the exit', { skip: process.platform === 'win32' && 'needs mkfifo' }, async (t) => {
  // `ssm-session run … | slow-reader`: when the session ends, the pipe is full and the last
  // kilobytes are still queued in the CLI. Node writes to pipes asynchronously and
  // process.exit drops that queue, so the CLI must wait for the reader before it exits.
  const { sim, sandbox, env } = await setup(t);
  const pipe = await openHeldPipe(sandbox.dir);
  t.teardown(() => pipe.close());
  // The body, read as it comes; then (once the test says so) a tail of the pipe's capacity
  // and 2 KiB more, which the reader leaves unread until the session is over: the pipe
  // takes what it holds, and at least the 2 KiB stay queued in the CLI (far below its
  // high-water mark, so the session is not held back and ends).
  const body = Buffer.from(`${randomBytes(3 * MiB).toString('base64')}\n`);
  const tail = Buffer.from(`${randomBytes(((pipe.capacity + 2 * 1024) * 3) / 4).toString('base64')}`);
  const [bodyFile, tailFile, goOn] = ['body.txt', 'tail.txt', 'go-on.fifo'].map((name) => path.join(sandbox.dir, name)) as [string, string, string];
  writeFileSync(bodyFile, body);
  writeFileSync(tailFile, tail);
  execFileSync('mkfifo', [goOn]);
  // The gateway's end of the CLI's WebSocket: it closes once the CLI has finished the session.
  let gatewaySide: WebSocket | undefined;
  const stopObserving = sim.observe((direction, _frame, sessionId) => {
    if (direction === 'toAgent') gatewaySide ??= sim.sessions.get(sessionId)?.client?.socket;
  });
  t.teardown(stopObserving);
  const [binary, prefix] = cliCommand();
  const command = `cat ${bodyFile}; cat ${goOn} >/dev/null; cat ${tailFile}; exit 5`;
  const cli = runIntoPipe(pipe, binary, [...prefix, 'run', TARGET, '--', command], env, (fn) => t.teardown(fn));

  const head = await pipe.read(body.length);
  t.equal(sha256(head), sha256(body), 'the body arrived', { stderr: cli.stderr() });
  await (await open(goOn, 'w')).close(); // the remote command goes on with the tail
  await waitFor(() => gatewaySide?.readyState === WebSocket.CLOSED, {
    what: 'the CLI to finish the session',
    timeoutMs: 30_000,
    context: () => `pipe capacity ${pipe.capacity}; exited ${cli.exited()}; stderr: ${cli.stderr()}`,
  });
  const received = await pipe.readToEnd();
  t.equal(await cli.exit, 5, 'exit status 5, the command\'s', { stderr: cli.stderr() });
  t.equal(received.length, tail.length, `every byte of the tail arrived (${tail.length - received.length} lost; pipe capacity ${pipe.capacity})`);
  t.equal(sha256(received), sha256(tail), 'the tail\'s SHA-256 equals the remote file\'s');
  t.equal(cli.stderr(), '', 'nothing on stderr');
});

t.test('binary output is not byte-safe: the agent\'s UTF-8 handling (shell.go, processStdoutData)', async (t) => {
  const { env } = await setup(t);
  // A real U+FFFD before the last 3 bytes loses two bytes; an invalid last byte is held and
  // then dropped at the end of the stream; an invalid byte further back goes out as it is.
  const result = await runCli(t, ['run', TARGET, '--', "printf 'a\\357\\277\\275b\\377cdef\\377'"], env);
  t.equal(result.code, 0, { run: result.describe });
  t.same([...result.stdout], [0x61, 0xef, 0x62, 0xff, 0x63, 0x64, 0x65, 0x66]);
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
