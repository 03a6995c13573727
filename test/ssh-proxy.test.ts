// The plugin as an OpenSSH ProxyCommand (AWS-StartSSHSession, standard-stream mode,
// PROTOCOL.md §7.3.5): a real sshd on 127.0.0.1 started by this test, the real ssh and
// scp clients, the simulator's agent dialling 127.0.0.1:<sshd port>. Data must cross
// untouched (no LF/CR rewriting, quirk Q9) and no message may enter the byte stream (Q11).
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { Simulator } from '../src/simulator/index.ts';
import { awsClis, findOnPath, PLUGIN_BINARY, REGION, requireAwsCli, ROOT, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { withSandbox, withSimulator } from './helpers/plugin-fixtures.ts';
import { allCommandLines, descendants, killAll } from './helpers/processes.ts';
import { ENV_NAME, sdkStartSession, startProcess, TARGET, type PluginProcess } from './helpers/port-session.ts';
import { ByteGenerator, HEADER_BYTES, startDestination } from './helpers/port-traffic.ts';
import { waitFor } from './helpers/wait.ts';

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

const SSHD = '/usr/sbin/sshd';
const SSH = findOnPath('ssh');
const SCP = findOnPath('scp');
const SSH_KEYGEN = findOnPath('ssh-keygen');
const USER = userInfo().username;
const MiB = 1024 * 1024;

function prerequisites(t: TestContext): boolean {
  const missing: string[] = [];
  if (!existsSync(PLUGIN_BINARY)) missing.push(`${path.relative(ROOT, PLUGIN_BINARY)} (run \`npm run build\`)`);
  if (!existsSync(SSHD)) missing.push(`${SSHD} (openssh-server)`);
  if (!SSH || !SCP || !SSH_KEYGEN) missing.push('ssh, scp, ssh-keygen (openssh-client)');
  if (missing.length > 0) {
    t.fail(`missing: ${missing.join(', ')}`);
    return false;
  }
  return true;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Sshd {
  port: number;
  /** Private key of the user whose public key sshd accepts. */
  userKey: string;
  knownHosts: string;
  dir: string;
}

/** A throwaway sshd on 127.0.0.1, child of this process, with its own host and user keys. */
async function startSshd(t: TestContext, sandbox: Sandbox): Promise<Sshd> {
  const dir = path.join(sandbox.dir, 'sshd');
  mkdirSync(dir, { mode: 0o700 });
  const keygen = (file: string) => {
    const out = spawnSync(SSH_KEYGEN!, ['-q', '-t', 'ed25519', '-N', '', '-C', 'smp-test', '-f', file], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`ssh-keygen failed: ${out.stderr}`);
  };
  const hostKey = path.join(dir, 'host_ed25519');
  const userKey = path.join(dir, 'user_ed25519');
  keygen(hostKey);
  keygen(userKey);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${userKey}.pub`), { mode: 0o600 });
  // Privilege separation needs its empty directory.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin yes',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'X11Forwarding no',
      'PrintMotd no',
      'Subsystem sftp internal-sftp',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let exited = false;
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.once('exit', () => (exited = true));
  t.teardown(() => {
    if (child.pid !== undefined) killAll([...descendants(child.pid), child.pid]);
  });
  await waitFor(() => log.includes(`Server listening on 127.0.0.1 port ${port}`), {
    what: 'sshd to listen',
    timeoutMs: 10_000,
    context: () => log,
    abort: () => (exited ? 'sshd exited' : undefined),
  });
  return { port, userKey, knownHosts: path.join(dir, 'known_hosts'), dir };
}

/** Options every ssh / scp run uses: no user config, our key, a throwaway known_hosts. */
function sshOptions(sshd: Sshd, proxyCommand: string): string[] {
  return [
    '-F', '/dev/null',
    '-o', `ProxyCommand=${proxyCommand}`,
    '-o', `UserKnownHostsFile=${sshd.knownHosts}`,
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR',
    '-i', sshd.userKey,
  ];
}

function awsProxyCommand(sim: Simulator, aws: string): string {
  return (
    `${aws} ssm start-session --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p ` +
    `--endpoint-url ${sim.httpsEndpoint} --region ${REGION}`
  );
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function run(t: TestContext, command: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string; describe: string }> {
  const p: PluginProcess = startProcess(command, args, env, 45_000);
  t.teardown(() => p.kill());
  if (input) p.child.stdin.end(input);
  else p.child.stdin.end();
  const out: Buffer[] = [];
  p.child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  const exit = await p.exit;
  return { code: exit.code, stdout: Buffer.concat(out), stderr: p.stderr(), describe: `exit ${JSON.stringify(exit)}\n${p.describe()}` };
}

/** Live processes started with this sandbox's environment (aws, the plugin), by pid. */
function leftovers(sandbox: Sandbox): string[] {
  const out: string[] = [];
  for (const { pid, argv } of allCommandLines()) {
    if (pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(sandbox.binDir)) out.push(`${pid} ${argv.join(' ')}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** SSH sessions the simulator saw, by creation order. */
function sshSessions(sim: Simulator): string[] {
  return [...sim.sessions.values()].filter((s) => s.documentName === 'AWS-StartSSHSession').map((s) => s.sessionId);
}

/** Every session ended at the agent, then every aws / plugin process of the sandbox exited. */
async function allEnded(t: TestContext, sim: Simulator, sandbox: Sandbox, what: string, logFile: string): Promise<void> {
  await waitFor(() => [...sim.sessions.values()].every((s) => s.status === 'terminated'), {
    what: `every ${what} session to end at the agent`,
    timeoutMs: 10_000,
    context: () =>
      `${JSON.stringify([...sim.sessions.values()].map((s) => [s.sessionId, s.status]))}\n--- plugin log ---\n` +
      (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-60).join('\n') : '(none)'),
  });
  t.pass(`every ${what} session ended at the agent (sshd closed the connection, or the plugin terminated it)`);
  await waitFor(() => leftovers(sandbox).length === 0, {
    what: 'every aws / plugin process to exit',
    timeoutMs: 10_000,
    context: () => leftovers(sandbox).join('\n'),
  });
  t.pass('no aws or plugin process is left behind');
}

/**
 * An AWS-StartSSHSession to a port-traffic destination and the built plugin started for
 * it directly, as ssh would (the response in the environment; a log file if named).
 */
async function standardStream(t: TestContext, timeoutMs: number, logName?: string) {
  const sim = await withSimulator(t, { pacing: false, frameLogLimit: 0 });
  const sandbox = withSandbox(t);
  const dest = await startDestination();
  t.teardown(() => dest.close());
  const logFile = logName === undefined ? undefined : sandbox.logPath(logName);

  const request = { Target: TARGET, DocumentName: 'AWS-StartSSHSession', Parameters: { portNumber: [String(dest.port)] } };
  const response = await sdkStartSession(sim, request);
  const env = sandbox.env({ [ENV_NAME]: JSON.stringify(response), ...(logFile === undefined ? {} : { SESSION_MANAGER_PLUGIN_LOG: logFile }) });
  const plugin = startProcess(PLUGIN_BINARY, [ENV_NAME, REGION, 'StartSession', '', JSON.stringify(request), sim.endpoint], env, timeoutMs);
  t.teardown(() => plugin.kill());
  return { dest, response, plugin, logFile };
}

for (const cli of awsClis()) t.test(`ssh${cli.major === 1 ? ' and scp' : ''} through ${cli.label} ssm start-session as ProxyCommand`, async (t) => {
  if (!prerequisites(t)) return;
  const aws = requireAwsCli(t, cli);
  if (!aws) return;
  const sim = await withSimulator(t, { pacing: false, tls: true });
  const sandbox = withSandbox(t);
  const sshd = await startSshd(t, sandbox);
  const logFile = sandbox.logPath('plugin-aws.log');
  const env = sandbox.env({ SESSION_MANAGER_PLUGIN_LOG: logFile });
  const options = sshOptions(sshd, awsProxyCommand(sim, aws));

  const echo = await run(t, SSH!, [...options, '-p', String(sshd.port), `${USER}@${TARGET}`, 'echo ok'], env);
  t.equal(echo.code, 0, 'ssh exits 0', { run: echo.describe });
  t.equal(echo.stdout.toString('latin1'), 'ok\n', 'stdout is exactly "ok\\n"');
  t.match(echo.stderr, /\nStarting session with SessionId: \S+\n/, "the plugin's banner went to stderr, not into the byte stream");
  const [first] = sshSessions(sim);
  t.ok(first, 'the CLI started an AWS-StartSSHSession session');
  t.same(
    sim.sessions.get(first!)?.parameters,
    { portNumber: [String(sshd.port)] },
    'with portNumber=%p (the sshd port)',
  );

  t.same(sim.openDataChannelMessages.map((r) => r.secure), [true], 'the data channel was wss://');
  if (cli.major === 1) await scpBothWays(t, sim, sandbox, sshd, options, env);
  await allEnded(t, sim, sandbox, 'ssh', logFile);
});

/** 16 MiB of random bytes (every byte value, \r and \n included) up and back down with scp. */
async function scpBothWays(t: TestContext, sim: Simulator, sandbox: Sandbox, sshd: Sshd, options: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const original = randomBytes(16 * MiB);
  const local = path.join(sandbox.dir, 'upload.bin');
  const remote = path.join(sshd.dir, 'remote.bin');
  const back = path.join(sandbox.dir, 'download.bin');
  writeFileSync(local, original);
  const up = await run(t, SCP!, [...options, '-P', String(sshd.port), local, `${USER}@${TARGET}:${remote}`], env);
  t.equal(up.code, 0, 'scp up exits 0', { run: up.describe });
  t.equal(sha256(readFileSync(remote)), sha256(original), 'the uploaded file is identical (SHA-256)');
  const down = await run(t, SCP!, [...options, '-P', String(sshd.port), `${USER}@${TARGET}:${remote}`, back], env);
  t.equal(down.code, 0, 'scp down exits 0', { run: down.describe });
  t.equal(sha256(readFileSync(back)), sha256(original), 'the downloaded file is identical (SHA-256)');
  t.equal(sshSessions(sim).length, 3, 'one session per ssh/scp run');
}

t.test('ssh with the built binary itself as ProxyCommand (response in the environment)', async (t) => {
  if (!prerequisites(t)) return;
  const sim = await withSimulator(t, { pacing: false });
  const sandbox = withSandbox(t);
  const sshd = await startSshd(t, sandbox);

  const logFile = sandbox.logPath('plugin-direct.log');
  // The session is started first (as `aws ssm start-session` would), and ssh runs the
  // plugin with the AWS CLI's argv; the response travels in the environment.
  const startRun = async (input: Buffer | undefined, remoteCommand: string) => {
    const request = { Target: TARGET, DocumentName: 'AWS-StartSSHSession', Parameters: { portNumber: [String(sshd.port)] } };
    const response = await sdkStartSession(sim, request);
    const proxy = [
      PLUGIN_BINARY,
      ENV_NAME,
      REGION,
      'StartSession',
      "''",
      `'${JSON.stringify(request)}'`,
      sim.endpoint,
    ].join(' ');
    const env = sandbox.env({ [ENV_NAME]: JSON.stringify(response), SESSION_MANAGER_PLUGIN_LOG: logFile });
    const result = await run(t, SSH!, [...sshOptions(sshd, proxy), '-p', String(sshd.port), `${USER}@${TARGET}`, remoteCommand], env, input);
    return { result, sessionId: response.SessionId };
  };

  const echo = await startRun(undefined, 'echo ok');
  t.equal(echo.result.code, 0, 'ssh exits 0', { run: echo.result.describe });
  t.equal(echo.result.stdout.toString('latin1'), 'ok\n', 'stdout is exactly "ok\\n"');
  t.match(echo.result.stderr, new RegExp(`\\nStarting session with SessionId: ${echo.sessionId}\\n`), 'banner on stderr');

  // Raw bytes both ways through one exec channel: stdin → remote sha256sum, and back.
  const data = Buffer.concat([Buffer.from('\r\n\n\r\x00\x1b[A~.\r\n'), randomBytes(4 * MiB)]);
  const digest = await startRun(data, 'sha256sum');
  t.equal(digest.result.code, 0, 'ssh sha256sum exits 0', { run: digest.result.describe });
  t.equal(digest.result.stdout.toString('latin1'), `${sha256(data)}  -\n`, 'the remote end saw exactly our bytes');
  const cat = await startRun(data, 'cat');
  t.equal(cat.result.code, 0, 'ssh cat exits 0', { run: cat.result.describe });
  t.equal(sha256(cat.result.stdout), sha256(data), 'and we got exactly them back');

  await allEnded(t, sim, sandbox, 'ssh', logFile);
});

t.test('standard-stream mode without ssh: raw bytes both ways, nothing else on stdout, SIGHUP after EOF loses nothing', async (t) => {
  if (!prerequisites(t)) return;
  const { dest, response, plugin, logFile } = await standardStream(t, 45_000, 'plugin-stream.log');
  const out: Buffer[] = [];
  plugin.child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  await waitFor(() => plugin.stderr().includes(`Starting session with SessionId: ${response.SessionId}`), {
    what: 'the banner on stderr',
    timeoutMs: 15_000,
    context: plugin.describe,
    abort: () => (plugin.exited ? 'the plugin exited' : undefined),
  });

  // What the destination protocol of helpers/port-traffic.ts expects: a header, then the
  // upload; it answers with the download and the SHA-256 of the upload.
  const UP = 4 * MiB;
  const DOWN = 3 * MiB;
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(77, 0);
  header.writeUInt32LE(UP, 4);
  header.writeUInt32LE(DOWN, 8);
  const upload: Buffer[] = [];
  const gen = new ByteGenerator(77, 'up', UP);
  for (let chunk = gen.next(); chunk; chunk = gen.next()) upload.push(chunk);
  const uploadBytes = Buffer.concat(upload);
  plugin.child.stdin.write(header);
  await waitFor(() => out.reduce((n, b) => n + b.length, 0) >= DOWN, { what: 'the download', timeoutMs: 15_000, context: plugin.describe });
  // ssh closes the ProxyCommand's stdin and at once sends it SIGHUP: everything written
  // before must still reach the destination.
  plugin.child.stdin.end(uploadBytes);
  plugin.child.kill('SIGHUP');
  const exit = await plugin.exit;
  t.same(exit, { code: 0, signal: null }, 'the plugin exits 0', { run: plugin.describe() });
  const record = await waitFor(() => dest.records.find((r) => r.seed === 77 && (r.uploadDigest || r.closed)), {
    what: 'the destination to receive the upload',
    timeoutMs: 10_000,
    context: () => JSON.stringify(dest.records) + '\n' + (logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : ''),
  });
  t.equal(record.uploadReceived, UP, 'every byte written before EOF + SIGHUP reached the destination');
  t.equal(record.uploadDigest, sha256(uploadBytes), 'unchanged (SHA-256; \\r and \\n included)');
  // The destination's 32-byte digest of the upload may or may not make it out before the
  // plugin leaves (it exits once stdin has ended and its own data is acknowledged).
  const stdout = Buffer.concat(out);
  t.ok(stdout.length === DOWN || stdout.length === DOWN + 32, `stdout carries only destination bytes (${stdout.length}): no banner, no message`);
  t.equal(sha256(stdout.subarray(0, DOWN)), record.downloadDigest, 'downloaded bytes unchanged (SHA-256)');
  if (stdout.length > DOWN) t.equal(stdout.subarray(DOWN).toString('hex'), record.uploadDigest, "then the destination's digest of the upload");
  t.match(plugin.stderr(), /^\nStarting session with SessionId: \S+\n/, 'the banner went to stderr');
});

t.test('standard-stream mode: SIGTERM with stdin still open still exits promptly', async (t) => {
  if (!prerequisites(t)) return;
  const { dest, plugin } = await standardStream(t, 30_000);
  await waitFor(() => dest.accepted > 0 && plugin.stderr().includes('Starting session'), {
    what: 'the session to be up',
    timeoutMs: 15_000,
    context: plugin.describe,
    abort: () => (plugin.exited ? 'the plugin exited' : undefined),
  });
  plugin.child.stdin.write('partial input, no EOF');
  const signalled = Date.now();
  plugin.child.kill('SIGTERM');
  await waitFor(() => plugin.exited, { what: 'the plugin to exit', timeoutMs: 5000, context: plugin.describe });
  t.same(await plugin.exit, { code: 0, signal: null }, `exit 0, ${Date.now() - signalled} ms after SIGTERM`);
});
