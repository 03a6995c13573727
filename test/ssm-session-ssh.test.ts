// `ssm-session ssh-proxy` as the ProxyCommand of the real OpenSSH client, reaching a real
// sshd started by this test on 127.0.0.1 through the simulator's agent: bytes cross
// untouched both ways, nothing but ssh's stream on stdout, a clean exit when ssh closes
// stdin, no process left behind. From source, and once with the built binary.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createSandbox, ROOT, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { allCommandLines } from './helpers/processes.ts';
import { startProcess } from './helpers/port-session.ts';
import { cliCommandLine, cliEnv, sha256, SSM_SESSION_BINARY, SSM_SESSION_MAIN, startCli, startedSessions, type TestContext } from './helpers/ssm-session-cli.ts';
import { missingSshTools, SSH_PATH, startTestSshd, type TestSshd } from './helpers/ssm-session-sshd.ts';
import { waitFor } from './helpers/wait.ts';

const TARGET = 'i-0123456789abcdef0';
const MiB = 1024 * 1024;

interface Setup {
  sim: Simulator;
  sandbox: Sandbox;
  sshd: TestSshd;
  env: NodeJS.ProcessEnv;
}

async function setup(t: TestContext): Promise<Setup | undefined> {
  const missing = missingSshTools();
  if (missing.length > 0) {
    t.fail(`missing: ${missing.join(', ')}`);
    return undefined;
  }
  const sim = await startSimulator({ pacing: false, frameLogLimit: 0, tls: true });
  const sandbox = createSandbox();
  const sshd = await startTestSshd(path.join(sandbox.dir, 'sshd'));
  t.teardown(async () => {
    sshd.stop();
    await sim.close();
    sandbox.remove();
  });
  return { sim, sandbox, sshd, env: cliEnv(sandbox, sim) };
}

async function ssh(t: TestContext, s: Setup, proxyCommand: string, host: string, remoteCommand: string, input?: Buffer) {
  const run = startProcess(SSH_PATH!, [...s.sshd.clientOptions(proxyCommand), `${s.sshd.user}@${host}`, remoteCommand], s.env, 45_000);
  t.teardown(() => run.kill());
  const out: Buffer[] = [];
  run.child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  run.child.stdin.end(input);
  const exit = await run.exit;
  return { code: exit.code, stdout: Buffer.concat(out), stderr: run.stderr(), describe: `exit ${JSON.stringify(exit)}\n${run.describe()}` };
}

/** ssm-session processes still running (found by their command line). */
function leftoverProxies(): string[] {
  return allCommandLines()
    .filter(({ pid, argv }) => pid !== process.pid && argv.some((word) => word === SSM_SESSION_MAIN || word === SSM_SESSION_BINARY))
    .map(({ pid, argv }) => `${pid} ${argv.join(' ')}`);
}

async function everythingEnded(t: TestContext, sim: Simulator): Promise<void> {
  await waitFor(() => [...sim.sessions.values()].every((session) => session.status === 'terminated'), {
    what: 'every session to end at the agent',
    timeoutMs: 10_000,
    context: () => JSON.stringify([...sim.sessions.values()].map((session) => [session.sessionId, session.status])),
  });
  await waitFor(() => leftoverProxies().length === 0, { what: 'every ssm-session process to exit', timeoutMs: 10_000, context: () => leftoverProxies().join('\n') });
  t.pass('every session ended at the agent and no ssm-session process is left');
}

t.test('ssh through `ssm-session ssh-proxy %h %p`', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const proxy = `${cliCommandLine()} ssh-proxy %h %p`;

  const echo = await ssh(t, s, proxy, TARGET, 'echo ok');
  t.equal(echo.code, 0, 'ssh exits 0', { run: echo.describe });
  t.equal(echo.stdout.toString('latin1'), 'ok\n', 'stdout is exactly "ok\\n"');
  t.equal(echo.stderr, '', 'ssm-session printed nothing (stderr empty)');
  t.same(
    startedSessions(s.sim),
    [{ target: TARGET, document: 'AWS-StartSSHSession', parameters: { portNumber: [String(s.sshd.port)] } }],
    'one AWS-StartSSHSession session with portNumber=%p',
  );

  // Every byte value, \r and \n included, up to the remote sha256sum and through cat and back.
  const data = Buffer.concat([Buffer.from('\r\n\n\r\x00\x1b[A~.\r\n'), randomBytes(4 * MiB)]);
  const digest = await ssh(t, s, proxy, TARGET, 'sha256sum', data);
  t.equal(digest.code, 0, 'ssh sha256sum exits 0', { run: digest.describe });
  t.equal(digest.stdout.toString('latin1'), `${sha256(data)}  -\n`, 'the remote side got exactly our bytes');
  const echoed = await ssh(t, s, proxy, TARGET, 'cat', data);
  t.equal(echoed.code, 0, 'ssh cat exits 0', { run: echoed.describe.slice(0, 3000) });
  t.equal(sha256(echoed.stdout), sha256(data), 'and they came back unchanged');
  await everythingEnded(t, s.sim);
});

t.test('ssh through the built binary, --endpoint-url and a tag as the target', async (t) => {
  if (!existsSync(SSM_SESSION_BINARY)) {
    t.fail(`${path.relative(ROOT, SSM_SESSION_BINARY)} is missing: run \`npm run build\` first`);
    return;
  }
  const s = await setup(t);
  if (!s) return;
  // The endpoint on the command line this time, not in the environment.
  delete s.env.AWS_ENDPOINT_URL_SSM;
  const proxy = `${SSM_SESSION_BINARY} --endpoint-url ${s.sim.httpsEndpoint} -q ssh-proxy tag:Name=sim-web %p`;
  const result = await ssh(t, s, proxy, 'web-by-tag', 'echo $((6*7))');
  t.equal(result.code, 0, 'ssh exits 0', { run: result.describe });
  t.equal(result.stdout.toString('latin1'), '42\n', 'the remote command ran');
  t.equal(startedSessions(s.sim)[0]?.target, TARGET, 'the session went to the instance tagged Name=sim-web');
  await everythingEnded(t, s.sim);
});

t.test('ssh-proxy without ssh: sshd banner first on stdout; stdin closed first ends and terminates the session', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const cli = startCli(t, ['ssh-proxy', TARGET, String(s.sshd.port)], s.env);
  await cli.waitStdout(/^SSH-2\.0-[^\r\n]*\r\n$/, "sshd's banner, and nothing before it");
  cli.child.stdin.end();
  await waitFor(() => cli.exited, { what: 'ssm-session to exit after stdin closed', timeoutMs: 10_000, context: cli.describe });
  t.same(await cli.exit, { code: 0, signal: null }, 'exit 0');
  t.equal(cli.stderr(), '', 'nothing on stderr');
  const [session] = s.sim.sessions.values();
  t.equal(session?.status, 'terminated', 'the session was terminated (the agent dropped its connection to sshd)');
  t.ok(s.sim.apiCalls.some((c) => c.operation === 'TerminateSession'), 'with TerminateSession');
});
