// End to end for issue 5: KMS-encrypted sessions, command sessions with exit codes, and
// ECS exec, driven through the real AWS CLI (v1; commands and ECS exec through v2 too) and
// the built binary directly, against the simulator over HTTPS and wss://. All traffic
// stays on 127.0.0.1.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn as spawnPty } from 'node-pty';
import WebSocket from 'ws';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { awsClis, createSandbox, PLUGIN_BINARY, REGION, requireAwsCli, type AwsCli, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { openHeldPipe, runIntoPipe } from './helpers/held-pipe.ts';
import { start } from './helpers/processes.ts';
import { printable, waitFor } from './helpers/wait.ts';

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

const TARGET = 'i-0123456789abcdef0';
const [CLI_V1] = awsClis();
const PROMPT = /sh-\d+\.\d+[$#] /;

/** The AWS CLI to run (v1 unless given), or undefined after failing the test. */
function prerequisites(t: TestContext, cli: AwsCli = CLI_V1!): string | undefined {
  if (!existsSync(PLUGIN_BINARY)) return void t.fail('dist/session-manager-plugin is missing: run `npm run build`');
  return requireAwsCli(t, cli);
}

async function setup(t: TestContext, options: Parameters<typeof startSimulator>[0] = {}) {
  const sim = await startSimulator({ shellDelayMs: 200, tls: true, ...options });
  t.teardown(() => sim.close());
  const sandbox: Sandbox = createSandbox();
  t.teardown(() => sandbox.remove());
  // The plugin calls KMS itself; AWS_ENDPOINT_URL_KMS points it at the simulator.
  const env = sandbox.env({ AWS_ENDPOINT_URL_KMS: sim.httpsEndpoint! });
  return { sim, sandbox, env };
}

/** Every frame the gateway relays, both directions, for plaintext checks. */
function recordWire(sim: Simulator): Buffer[] {
  const frames: Buffer[] = [];
  sim.observe((_direction, frame) => frames.push(Buffer.from(frame)));
  return frames;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function commandArgs(sim: Simulator, parameters: Record<string, string[]>): string[] {
  return [
    'ssm', 'start-session', '--target', TARGET, '--endpoint-url', sim.httpsEndpoint!, '--region', REGION,
    '--document-name', 'AWS-StartNonInteractiveCommand', '--parameters', JSON.stringify(parameters),
  ];
}

const KMS_MESSAGE = 'This session is encrypted using AWS KMS.\n';

/** What a command printed, without the plugin's banner, KMS notice and exit message. */
function commandOutput(stdout: Buffer, sessionId: string): Buffer {
  const banner = Buffer.from(`\nStarting session with SessionId: ${sessionId}\n`);
  const exit = Buffer.from(`\n\nExiting session with sessionId: ${sessionId}.\n\n`);
  let body = stdout;
  if (body.subarray(0, banner.length).equals(banner)) body = body.subarray(banner.length);
  if (body.subarray(0, KMS_MESSAGE.length).toString() === KMS_MESSAGE) body = body.subarray(KMS_MESSAGE.length);
  if (body.subarray(body.length - exit.length).equals(exit)) body = body.subarray(0, body.length - exit.length);
  return body;
}

t.test('encrypted shell through the AWS CLI: no plaintext crosses the wire either way', async (t) => {
  const aws = prerequisites(t);
  if (!aws) return;
  const { sim, env } = await setup(t, { kmsKeyId: 'alias/session-key' });
  const wire = recordWire(sim);
  const term = spawnPty(aws, ['ssm', 'start-session', '--target', TARGET, '--endpoint-url', sim.httpsEndpoint!, '--region', REGION], {
    cols: 120, rows: 40, env: env as Record<string, string>,
  });
  let screen = '';
  let exitCode: number | undefined;
  term.onData((d) => (screen += d));
  term.onExit((e) => (exitCode = e.exitCode));
  t.teardown(() => { if (exitCode === undefined) term.kill(); });
  const opts = (what: string) => ({ timeoutMs: 15_000, what, context: () => printable(screen), abort: () => (exitCode !== undefined ? `aws exited ${exitCode}` : undefined) });
  await waitFor(() => screen.includes('This session is encrypted using AWS KMS.'), opts('the KMS customer message'));
  await waitFor(() => PROMPT.test(screen), opts('the prompt'));
  // The typed marker and the computed output marker must never appear in clear on the wire.
  term.write('echo typed-zq-marker; echo "out-zq-$((6*7))"\r');
  await waitFor(() => screen.includes('out-zq-42'), opts('the command output'));
  term.write('exit\r');
  await waitFor(() => exitCode !== undefined, opts('aws to exit'));
  t.equal(exitCode, 0);
  const session = [...sim.sessions.values()][0]!;
  t.ok(session.agent.encrypted, 'the agent negotiated encryption');
  const kmsCalls = sim.apiCalls.filter((c) => c.service === 'kms' && c.operation === 'GenerateDataKey');
  t.equal(kmsCalls.length, 1, 'the plugin called GenerateDataKey once');
  t.ok(wire.length > 10, `frames were observed (${wire.length})`);
  for (const marker of ['typed-zq-marker', 'out-zq-42', 'echo typed']) {
    t.notOk(wire.some((frame) => frame.includes(marker)), `"${marker}" never crossed the wire in clear`);
  }
});

t.test('encrypted NonInteractiveCommands session prints 16 MiB of text intact', async (t) => {
  const aws = prerequisites(t);
  if (!aws) return;
  const { sim, env } = await setup(t, { kmsKeyId: 'alias/session-key', pacing: false });
  const dir = mkdtempSync(path.join(tmpdir(), 'smp-kms-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Text: the agent's UTF-8 handling mangles binary output (shell.go, processStdoutData).
  const data = Buffer.from(randomBytes(12 * 1024 * 1024).toString('base64'));
  writeFileSync(path.join(dir, 'payload.bin'), data);
  const run = start(aws, commandArgs(sim, { command: [`cat ${path.join(dir, 'payload.bin')}`], separateOutputStream: ['true'] }), { env, timeoutMs: 90_000 });
  const result = await run.result;
  t.equal(result.timedOut, false);
  t.equal(result.code, 0, `aws exit status (stderr: ${result.stderr.toString().slice(0, 300)})`);
  const session = [...sim.sessions.values()][0]!;
  t.ok(session.agent.encrypted, 'encrypted');
  const body = commandOutput(result.stdout, session.sessionId);
  t.equal(body.length, data.length, 'byte count');
  t.equal(sha256(body), sha256(data), 'SHA-256 of 16 MiB through KMS encryption');
});

t.test('tampered ciphertext and a wrong key end the session cleanly', async (t) => {
  const aws = prerequisites(t);
  if (!aws) return;
  for (const fault of ['tamper', 'wrong-key'] as const) {
    const { sim, env } = await setup(t, { kmsKeyId: 'alias/session-key' });
    if (fault === 'tamper') sim.faults.tamperEncryptedNext(1);
    else sim.faults.setWrongAgentKey('output');
    const run = start(aws, commandArgs(sim, { command: ['echo secret-plain-text'], separateOutputStream: ['true'] }), { env, timeoutMs: 30_000 });
    const result = await run.result;
    const stdout = result.stdout.toString('latin1');
    const stderr = result.stderr.toString();
    t.equal(result.timedOut, false, `${fault}: no hang`);
    t.match(stderr, /Cannot perform start session: data from the agent failed decryption/, `${fault}: one clear line`);
    t.notMatch(stdout, /secret-plain-text/, `${fault}: nothing was printed from the failed payload`);
    t.equal(stdout.replace(/\nStarting session with SessionId: \S+\n/, '').replace(KMS_MESSAGE, ''), '', `${fault}: stdout holds only the banner and KMS notice`);
    t.equal(result.code, 255, `${fault}: the plugin failed (the AWS CLI reports 255)`);
    t.match(stderr, /returned non-zero exit status 1\./);
    t.ok(sim.apiCalls.some((c) => c.operation === 'TerminateSession'), `${fault}: TerminateSession called`);
  }
});

for (const cli of awsClis()) t.test(`NonInteractiveCommands through ${cli.label}: exit code and separate streams`, async (t) => {
  const aws = prerequisites(t, cli);
  if (!aws) return;
  const { sim, env, sandbox } = await setup(t);
  // The agent executes the command's words (shell_unix.go): shell syntax needs `sh -c`.
  const parameters = { command: ["sh -c 'echo to-out; echo to-err >&2; exit 7'"], separateOutputStream: ['true'] };
  const viaCli = await start(aws, commandArgs(sim, parameters), { env, timeoutMs: 30_000 }).result;
  const session = [...sim.sessions.values()][0]!;
  t.match(viaCli.stderr.toString(), /^to-err\n/, 'the command stderr is on stderr');
  t.notOk(viaCli.stderr.toString().includes(session.token), 'no token in the AWS CLI message');
  if (cli.responseVia === 'env') {
    // The AWS CLI's own status is 255 for any non-zero plugin status, and it names ours;
    // the message carries no token because the response came via the env var.
    t.equal(commandOutput(viaCli.stdout, session.sessionId).toString(), 'to-out\n', 'stdout holds only the command stdout');
    t.match(viaCli.stderr.toString(), /returned non-zero exit status 7\./, 'the AWS CLI reports our exit status 7');
    t.equal(viaCli.code, 255);
  } else {
    // The response (token) in argv: the official behaviour, EXIT_CODE printed and status 0,
    // so that the AWS CLI never repeats that argv in its message.
    t.equal(commandOutput(viaCli.stdout, session.sessionId).toString(), 'to-out\nEXIT_CODE: 7', 'the command stdout, then EXIT_CODE');
    t.equal(viaCli.code, 0);
  }
  if (cli.major === 2) return; // the rest runs the plugin directly, once

  // The plugin itself, invoked exactly as the AWS CLI does (env-var path), exits 7.
  const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient({ region: REGION, endpoint: sim.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
  const response = await ssm.send(new StartSessionCommand({ Target: TARGET, DocumentName: 'AWS-StartNonInteractiveCommand', Parameters: parameters }));
  ssm.destroy();
  const args = ['AWS_SSM_START_SESSION_RESPONSE', REGION, 'StartSession', '', JSON.stringify({ Target: TARGET }), sim.endpoint];
  const responseEnv = { AWS_SSM_START_SESSION_RESPONSE: JSON.stringify(response) };
  const direct = await start(PLUGIN_BINARY, args, { env: { ...env, ...responseEnv }, timeoutMs: 30_000 }).result;
  t.equal(direct.code, 7, 'the remote exit code is the plugin exit status');
  t.equal(direct.stderr.toString(), 'to-err\n');
  t.notMatch(direct.stdout.toString(), /EXIT_CODE/);

  // The official behaviour on request: EXIT_CODE printed, exit 0.
  const again = await (async () => {
    const client = new SSMClient({ region: REGION, endpoint: sim.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
    const r = await client.send(new StartSessionCommand({ Target: TARGET, DocumentName: 'AWS-StartNonInteractiveCommand', Parameters: parameters }));
    client.destroy();
    return r;
  })();
  const official = await start(PLUGIN_BINARY, args, {
    env: { ...env, AWS_SSM_START_SESSION_RESPONSE: JSON.stringify(again), SESSION_MANAGER_PLUGIN_EXIT_CODE: 'official' },
    timeoutMs: 30_000,
  }).result;
  t.equal(official.code, 0);
  t.match(official.stdout.toString(), /EXIT_CODE: 7/);
  void sandbox;
});

t.test('the plugin passes the command the user gave untouched: no shell is added on the way', async (t) => {
  const aws = prerequisites(t);
  if (!aws) return;
  const { sim, env } = await setup(t);
  const command = `printf '%s|' 'a  b' $HOME && exit 7`;
  const result = await start(aws, commandArgs(sim, { command: [command], separateOutputStream: ['true'] }), { env, timeoutMs: 30_000 }).result;
  const session = [...sim.sessions.values()][0]!;
  t.same(session.parameters.command, [command], 'StartSession got the command as typed');
  // The agent split it and ran printf with the other words (shell_unix.go): nothing expanded.
  t.equal(commandOutput(result.stdout, session.sessionId).toString(), 'a  b|$HOME|&&|exit|7|');
  t.equal(result.code, 0, 'printf succeeded; `exit 7` was only words');
});

async function startDirect(sim: Simulator, env: NodeJS.ProcessEnv, parameters: Record<string, string[]>) {
  const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient({ region: REGION, endpoint: sim.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
  const response = await ssm.send(new StartSessionCommand({ Target: TARGET, DocumentName: 'AWS-StartNonInteractiveCommand', Parameters: parameters }));
  ssm.destroy();
  const args = ['AWS_SSM_START_SESSION_RESPONSE', REGION, 'StartSession', '', JSON.stringify({ Target: TARGET, Parameters: parameters }), sim.endpoint];
  const run = start(PLUGIN_BINARY, args, { env: { ...env, AWS_SSM_START_SESSION_RESPONSE: JSON.stringify(response) }, timeoutMs: 30_000 });
  return { run, sessionId: response.SessionId! };
}

t.test('a command whose exit code is lost: a clear message and status 1, not a silent 0', async (t) => {
  const aws = prerequisites(t);
  if (!aws) return;
  const { sim, env } = await setup(t, { shellDelayMs: 0 });
  const { run, sessionId } = await startDirect(sim, env, { command: ["sh -c 'printf first; sleep 4; printf second; exit 3'"], separateOutputStream: ['true'] });
  await waitFor(() => run.stdout().toString().includes('first'), { what: 'the first output', timeoutMs: 15_000, context: () => printable(run.stderr().toString()) });
  const channel = sim.sessions.get(sessionId)!.agent.channel;
  // The handshake answer (0) and the terminal size (1) are in and everything is acked: the
  // plugin sends nothing more, so a pause stays until the command is over (shell.go's
  // readers give up, the exit code is not sent).
  await waitFor(() => channel.expectedInSeq >= 2 && channel.unackedCount === 0, { what: 'a quiet plugin', timeoutMs: 15_000 });
  sim.publish(sessionId, 'toAgent', 'pause');
  const result = await run.result;
  t.equal(result.code, 1);
  t.notMatch(result.stdout.toString(), /second/);
  t.equal(
    result.stderr.toString(),
    "The session ended without the command's exit code (the agent drops it, and stops reading the command's output, when its connection is paused or interrupted while the command runs); its output may be incomplete.\n",
  );
});

t.test('a reader behind at the end still gets the whole command output before the plugin exits', { skip: process.platform === 'win32' && 'needs mkfifo' }, async (t) => {
  // The plugin's stdout piped to a reader that lags (ssh as ProxyCommand, `aws ssm
  // start-session … | less`): when the session ends, the pipe is full and the last
  // kilobytes are still queued in the plugin, which process.exit would drop (Node writes
  // to pipes asynchronously). The reader takes the banner and body as they come, leaves
  // the tail (the pipe's capacity and 2 KiB more: at least 2 KiB stay queued, far below
  // the high-water mark, so the session is not held back) until the session is over.
  if (!existsSync(PLUGIN_BINARY)) return void t.fail('dist/session-manager-plugin is missing: run `npm run build`');
  const { sim, sandbox, env } = await setup(t, { shellDelayMs: 0, pacing: false });
  const pipe = await openHeldPipe(sandbox.dir);
  t.teardown(() => pipe.close());
  const body = Buffer.from(`${randomBytes(3 * 1024 * 1024).toString('base64')}\n`);
  const tail = Buffer.from(randomBytes(((pipe.capacity + 2 * 1024) * 3) / 4).toString('base64'));
  const [bodyFile, tailFile, goOn] = ['body.txt', 'tail.txt', 'go-on.fifo'].map((name) => path.join(sandbox.dir, name)) as [string, string, string];
  writeFileSync(bodyFile, body);
  writeFileSync(tailFile, tail);
  execFileSync('mkfifo', [goOn]);
  let gatewaySide: WebSocket | undefined; // the gateway's end of the plugin's WebSocket
  sim.observe((direction, _frame, id) => {
    if (direction === 'toAgent') gatewaySide ??= sim.sessions.get(id)?.client?.socket;
  });
  const parameters = { command: [`sh -c 'cat ${bodyFile}; cat ${goOn} >/dev/null; cat ${tailFile}; exit 5'`], separateOutputStream: ['true'] };
  const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
  const ssm = new SSMClient({ region: REGION, endpoint: sim.endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
  const response = await ssm.send(new StartSessionCommand({ Target: TARGET, DocumentName: 'AWS-StartNonInteractiveCommand', Parameters: parameters }));
  ssm.destroy();
  const sessionId = response.SessionId!;
  const args = ['AWS_SSM_START_SESSION_RESPONSE', REGION, 'StartSession', '', JSON.stringify({ Target: TARGET, Parameters: parameters }), sim.endpoint];
  const plugin = runIntoPipe(pipe, PLUGIN_BINARY, args, { ...env, AWS_SSM_START_SESSION_RESPONSE: JSON.stringify(response) }, (fn) => t.teardown(fn));

  const head = Buffer.concat([Buffer.from(`\nStarting session with SessionId: ${sessionId}\n`), body]);
  const received = await pipe.read(head.length);
  t.equal(sha256(received), sha256(head), 'the banner and the body arrived', { stderr: plugin.stderr() });
  await (await open(goOn, 'w')).close(); // the remote command goes on with the tail
  await waitFor(() => gatewaySide?.readyState === WebSocket.CLOSED, {
    what: 'the plugin to finish the session',
    timeoutMs: 30_000,
    context: () => `pipe capacity ${pipe.capacity}; exited ${plugin.exited()}; stderr: ${plugin.stderr()}`,
  });
  const rest = await pipe.readToEnd();
  const expected = Buffer.concat([tail, Buffer.from(`\n\nExiting session with sessionId: ${sessionId}.\n\n`)]);
  t.equal(await plugin.exit, 5, 'exit status 5, the command\'s', { stderr: plugin.stderr() });
  t.equal(rest.length, expected.length, `every byte of the tail and the exit line arrived (${expected.length - rest.length} lost; pipe capacity ${pipe.capacity})`);
  t.equal(sha256(rest), sha256(expected), 'the tail (SHA-256), then the exit line');
  t.equal(plugin.stderr(), '', 'nothing on stderr');
});

t.test('a challenge answer the agent cannot decrypt: its timeout text reaches the user (datachannel.go)', async (t) => {
  const aws = prerequisites(t);
  if (!aws) return;
  const { sim, env } = await setup(t, { kmsKeyId: 'alias/session-key', handshakeTimeoutMs: 2000 });
  sim.faults.setWrongAgentKey('input'); // the agent decrypts what the plugin sends with another key
  const { run, sessionId } = await startDirect(sim, env, { command: ['echo never'], separateOutputStream: ['true'] });
  const result = await run.result;
  t.equal(result.timedOut, false, 'no hang');
  t.ok(
    result.stdout.toString().endsWith(`\n\nSessionId: ${sessionId} : Encountered error while initiating handshake. Timed out waiting for encryption challenge.\n\n`),
    `the agent's words, as the official plugin prints them (stdout: ${printable(result.stdout.toString())})`,
  );
  t.equal(result.code, 1, 'and a failure status, as for a command without its exit code');
  t.notMatch(result.stdout.toString(), /never/);
});

for (const cli of awsClis()) t.test(`ECS exec through ${cli.label}: interactive echo round trip`, async (t) => {
  const aws = prerequisites(t, cli);
  if (!aws) return;
  const { sim, env } = await setup(t);
  const term = spawnPty(aws, [
    'ecs', 'execute-command', '--cluster', 'demo-cluster', '--task', 'a1b2c3d4e5f6', '--container', 'web',
    '--command', '/bin/bash --noprofile --norc', '--interactive', '--endpoint-url', sim.httpsEndpoint!, '--region', REGION,
  ], { cols: 100, rows: 30, env: { ...(env as Record<string, string>), PS1: 'ecs$ ' } });
  let screen = '';
  let exitCode: number | undefined;
  term.onData((d) => (screen += d));
  term.onExit((e) => (exitCode = e.exitCode));
  t.teardown(() => { if (exitCode === undefined) term.kill(); });
  const opts = (what: string) => ({ timeoutMs: 20_000, what, context: () => printable(screen), abort: () => (exitCode !== undefined ? `aws exited ${exitCode}` : undefined) });
  await waitFor(() => screen.includes('Starting session with SessionId: ecs-execute-command-'), opts('the ECS session banner'));
  term.write('echo ecs-round-$((20+22))\r');
  await waitFor(() => screen.includes('ecs-round-42'), opts('the echoed output'));
  term.write('exit\r');
  await waitFor(() => exitCode !== undefined, opts('aws to exit'));
  t.equal(exitCode, 0);
  const session = [...sim.sessions.values()][0]!;
  t.match(session.target, /^ecs:demo-cluster_a1b2c3d4e5f6_/, 'the ECS target');
  t.ok(sim.apiCalls.some((c) => c.service === 'ecs' && c.operation === 'ExecuteCommand'));
  t.same(sim.openDataChannelMessages.map((r) => r.secure), [true], 'the data channel was wss://');
});
