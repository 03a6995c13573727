// No session token anywhere it should not be: three full runs through the real AWS CLI
// (a shell, a port-forwarding session and a session that fails), each with the debug log
// on and with forced reconnects, so ResumeSession hands out new tokens. Then every
// stdout/stderr, every file the runs left behind (debug logs included) and every command
// line seen while they ran (/proc/<pid>/cmdline of the CLI, the plugin, any children,
// and every other process on the machine) is searched for every token: whole, URL-encoded,
// and its first and last 24 characters.
import t from 'tap';
import type { TestContext } from './helpers/plugin-fixtures.ts';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createSandbox, findOnPath, PLUGIN_BINARY, REGION, ROOT, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { runTransfer, sha256, startTransferServer, TARGET } from './helpers/plugin-runs.ts';
import { allCommandLines, commandLine, descendants, start, type Running, type RunResult } from './helpers/processes.ts';
import { printable, waitFor } from './helpers/wait.ts';

const AWS = findOnPath('aws');
const PROMPT = /sh-\d+\.\d+[$#] /;

/** Everything a run exposed: its output, and the command lines seen while it ran. */
interface Exposure {
  name: string;
  texts: Array<{ where: string; text: string }>;
}

/** Samples the command lines of a process tree (and, now and then, of every process). */
function watchCommandLines(run: Running): {
  stop: () => Array<{ where: string; text: string }>;
  pluginPids: Set<number>;
  environs: Map<number, string>;
} {
  const seen = new Map<string, string>();
  const pluginPids = new Set<number>();
  const environs = new Map<number, string>();
  let ticks = 0;
  const sample = () => {
    const root = run.child.pid;
    if (root === undefined) return;
    for (const pid of [root, ...descendants(root)]) {
      const argv = commandLine(pid);
      if (!argv) continue;
      if (path.basename(argv[0] ?? '') === 'session-manager-plugin' && argv[1] !== '--version') {
        pluginPids.add(pid);
        if (!environs.has(pid)) {
          try {
            environs.set(pid, readFileSync(`/proc/${pid}/environ`, 'latin1'));
          } catch {
            // gone already
          }
        }
      }
      seen.set(`pid ${pid}: ${argv.join(' ')}`, argv.join('\0'));
    }
    if (ticks++ % 10 === 0) {
      for (const { pid, argv } of allCommandLines()) seen.set(`pid ${pid}: ${argv.join(' ').slice(0, 200)}`, argv.join('\0'));
    }
  };
  const timer = setInterval(sample, 20);
  timer.unref(); // never what keeps a failed test alive
  sample();
  return {
    pluginPids,
    environs,
    stop: () => {
      clearInterval(timer);
      sample();
      return [...seen].map(([where, text]) => ({ where: `cmdline ${where}`, text }));
    },
  };
}

/** Every regular file under a directory, as text. */
function filesUnder(dir: string): Array<{ where: string; text: string }> {
  const out: Array<{ where: string; text: string }> = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    try {
      if (!statSync(file).isFile()) continue; // symlinks to the binary are followed by stat: skip below
      if (path.basename(file) === 'session-manager-plugin') continue;
      out.push({ where: `file ${path.relative(dir, file)}`, text: readFileSync(file, 'latin1') });
    } catch {
      // gone
    }
  }
  return out;
}

function outputs(name: string, result: RunResult): Array<{ where: string; text: string }> {
  return [
    { where: `${name} stdout`, text: result.stdout.toString('latin1') },
    { where: `${name} stderr`, text: result.stderr.toString('latin1') },
  ];
}

/** Every token the service issued for a session: StartSession's and each ResumeSession's. */
function tokensOf(sim: Simulator, sessionId: string): string[] {
  const tokens = new Set<string>();
  for (const record of sim.openDataChannelMessages) {
    if (record.sessionId === sessionId && record.accepted && typeof record.message?.TokenValue === 'string') {
      tokens.add(record.message.TokenValue);
    }
  }
  const current = sim.sessions.get(sessionId)?.token;
  if (current) tokens.add(current);
  return [...tokens];
}

function awsStartSession(sim: Simulator, sandbox: Sandbox, logFile: string, extra: string[] = []): Running {
  return start(AWS!, ['ssm', 'start-session', '--endpoint-url', sim.httpsEndpoint ?? sim.endpoint, '--region', REGION, '--target', TARGET, ...extra], {
    env: sandbox.env({ SESSION_MANAGER_PLUGIN_LOG: logFile }),
    timeoutMs: 40_000,
  });
}

function waiter(run: Running) {
  return <T>(what: string, condition: () => T | undefined | null | false, timeoutMs = 15_000) =>
    waitFor(condition, {
      what,
      timeoutMs,
      context: () => `${printable(run.stdout().toString())}\n--- stderr ---\n${printable(run.stderr().toString())}`,
      abort: () => (run.exited() ? 'the AWS CLI exited' : undefined),
    });
}

/** Drops the session's connection and waits for the plugin to be back with a new token. */
async function forceReconnect(sim: Simulator, sessionId: string, until: ReturnType<typeof waiter>): Promise<void> {
  const session = sim.sessions.get(sessionId)!;
  const accepted = () => sim.openDataChannelMessages.filter((r) => r.sessionId === sessionId && r.accepted).length;
  const before = accepted();
  sim.disconnectClient(sessionId);
  await until('the plugin to reconnect', () => accepted() > before && session.client !== undefined);
}

/** A shell through `aws ssm start-session` with a debug log, watched from the start, at its prompt. */
async function shellThroughCli(t: TestContext, sim: Simulator, sandbox: Sandbox, logName: string) {
  const log = sandbox.logPath(logName);
  const run = awsStartSession(sim, sandbox, log);
  t.teardown(() => run.kill());
  const watch = watchCommandLines(run);
  const until = waiter(run);
  const id = (await until('the banner', () => /Starting session with SessionId: (\S+)\n/.exec(run.stdout().toString())))[1]!;
  await until('the prompt', () => PROMPT.test(run.stdout().toString()));
  return { log, run, watch, until, id };
}

t.test('no session token in any output, file or command line', async (t) => {
  if (!existsSync(PLUGIN_BINARY)) {
    t.fail(`${path.relative(ROOT, PLUGIN_BINARY)} is missing: run \`npm run build\` first`);
    return;
  }
  if (!AWS) {
    t.fail('the AWS CLI (`aws`) is not on PATH; this test needs AWS CLI v1');
    return;
  }
  const sim = await startSimulator({ shellDelayMs: 50, pacing: false, tls: true });
  t.teardown(() => sim.close());
  const sandbox = createSandbox();
  t.teardown(() => sandbox.remove());
  const exposures: Exposure[] = [];
  const sessions: string[] = [];

  // 1. A shell through the CLI, reconnected twice (two ResumeSession tokens).
  {
    const { log, run, watch, until, id } = await shellThroughCli(t, sim, sandbox, 'shell.log');
    sessions.push(id);
    for (const n of [1, 2]) {
      await forceReconnect(sim, id, until);
      const from = run.stdout().length;
      run.child.stdin.write(`echo round-$((${n}*11))\n`);
      await until(`round ${n} output`, () => run.stdout().subarray(from).toString().includes(`round-${n * 11}`));
    }
    run.child.stdin.end('exit\n');
    const result = await run.result;
    t.equal(result.code, 0, 'shell: the CLI exits 0', { stderr: result.stderr.toString() });
    t.ok(watch.pluginPids.size >= 1, 'shell: the plugin process was seen');
    // Positive control: the search does find a token where the CLI's contract puts it, in
    // the plugin's environment (readable only by the same user, unlike its command line).
    const initialToken = tokensOf(sim, id)[0] ?? '<none>';
    t.ok([...watch.environs.values()].some((env) => env.includes(initialToken)), 'control: the first token is found in the plugin environment');
    t.match(readFileSync(log, 'utf8'), /data channel reopened/, 'shell: the debug log was written, reconnects included');
    t.equal(statSync(log).mode & 0o777, 0o600, 'shell: the debug log is owner-only');
    exposures.push({ name: 'shell', texts: [...outputs('shell', result), ...watch.stop()] });
  }

  // 2. Port forwarding through the CLI, with a transfer and a reconnect in the middle.
  {
    const server = await startTransferServer(64 * 1024);
    t.teardown(() => server.close());
    const log = sandbox.logPath('port.log');
    const run = awsStartSession(sim, sandbox, log, [
      '--document-name',
      'AWS-StartPortForwardingSession',
      '--parameters',
      JSON.stringify({ portNumber: [String(server.port)], localPortNumber: ['0'] }),
    ]);
    t.teardown(() => run.kill());
    const watch = watchCommandLines(run);
    const until = waiter(run);
    const id = (await until('the banner', () => /Starting session with SessionId: (\S+)\n/.exec(run.stdout().toString())))[1]!;
    sessions.push(id);
    const port = Number((await until('the listener', () => /Port (\d+) opened/.exec(run.stdout().toString())))[1]);
    const upload = Buffer.alloc(4 * 1024 * 1024, 7);
    const progress = { uploaded: 0, downloaded: 0 };
    const transfer = runTransfer(port, upload, 64 * 1024, progress);
    transfer.catch(() => undefined);
    await until('some upload', () => progress.uploaded >= 1024 * 1024);
    await forceReconnect(sim, id, until);
    const done = await transfer;
    t.equal(done.uploadDigestAtDestination, sha256(upload), 'port: the transfer completed across the reconnect');
    const pluginPid = [...watch.pluginPids][0];
    t.ok(pluginPid, 'port: the plugin process was seen');
    if (pluginPid) process.kill(pluginPid, 'SIGINT'); // what Ctrl-C does
    const result = await run.result;
    t.equal(result.code, 0, 'port: the CLI exits 0 after Ctrl-C', { stderr: result.stderr.toString() });
    exposures.push({ name: 'port', texts: [...outputs('port', result), ...watch.stop()] });
  }

  // 3. A session that fails: ResumeSession is denied after a drop.
  {
    const { log, run, watch, until, id } = await shellThroughCli(t, sim, sandbox, 'failed.log');
    sessions.push(id);
    await forceReconnect(sim, id, until); // one more token first
    sim.faults.refuseResume(60_000, {
      errorType: 'AccessDeniedException',
      status: 400,
      message: 'User: arn:aws:iam::123456789012:user/test is not authorized to perform: ssm:ResumeSession',
    });
    sim.disconnectClient(id);
    const result = await run.result;
    sim.faults.reset();
    t.not(result.code, 0, 'failed: the CLI reports the failure');
    t.match(result.stderr.toString(), /not authorized to perform: ssm:ResumeSession/, 'failed: the reason is shown');
    t.comment(`failed session, CLI stderr: ${JSON.stringify(result.stderr.toString())}`);
    exposures.push({ name: 'failed', texts: [...outputs('failed', result), ...watch.stop()] });
  }

  // Every file the runs left: debug logs, CLI config, anything else.
  exposures.push({ name: 'files', texts: filesUnder(sandbox.dir) });

  const tokens = sessions.flatMap((id) => tokensOf(sim, id));
  t.equal(new Set(tokens).size, tokens.length, 'tokens are distinct');
  t.equal(tokens.length, 3 + 2 + 2, `${tokens.length} tokens issued: 3 (shell) + 2 (port) + 2 (failed session)`);
  t.ok(tokens.every((token) => token.length >= 100), 'tokens are long enough for partial matches to mean something');
  const needles = tokens.flatMap((token) => [token, encodeURIComponent(token), token.slice(0, 24), token.slice(-24)]);
  for (const exposure of exposures) {
    const leaks: string[] = [];
    for (const { where, text } of exposure.texts) {
      const hit = needles.find((needle) => text.includes(needle));
      if (hit) leaks.push(`${where} contains ${hit.slice(0, 12)}…`);
    }
    t.same(leaks, [], `${exposure.name}: no token in ${exposure.texts.length} outputs/files/command lines`);
  }
  const sources = exposures.reduce((n, e) => n + e.texts.length, 0);
  t.comment(`searched ${sources} sources for ${tokens.length} tokens (${needles.length} patterns)`);
});
