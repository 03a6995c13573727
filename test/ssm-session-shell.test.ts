// `ssm-session shell` in a real terminal (node-pty), from source, against the simulator:
// typing, resize, Ctrl-C to the remote side, `exit`, the `~.` escape, target by Name tag.
import t from 'tap';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createSandbox } from './helpers/aws-cli-sandbox.ts';
import { commandLine, descendants } from './helpers/processes.ts';
import { cliCommand, cliEnv, startedSessions, type TestContext } from './helpers/ssm-session-cli.ts';
import { openTerminal as openPty, type Terminal } from './helpers/ssm-session-pty.ts';
import { printable, waitFor } from './helpers/wait.ts';

const PROMPT = /sh-\d+\.\d+[$#] /;

async function setup(t: TestContext): Promise<{ sim: Simulator; env: NodeJS.ProcessEnv }> {
  const sim = await startSimulator({ frameLogLimit: 0, tls: true });
  const sandbox = createSandbox();
  t.teardown(async () => {
    await sim.close();
    sandbox.remove();
  });
  return { sim, env: cliEnv(sandbox, sim) };
}

function openTerminal(t: TestContext, args: string[], env: NodeJS.ProcessEnv): Terminal {
  return openPty(t, cliCommand(), args, env);
}

t.test('shell in a terminal: typing, resize, Ctrl-C, exit', async (t) => {
  const { sim, env } = await setup(t);
  const term = openTerminal(t, ['shell', 'Name=sim-web'], env);
  await term.after(0, /Target Name=sim-web: i-0123456789abcdef0/, 'the resolved target');
  const sessionId = (await term.after(0, /Starting session with SessionId: (\S+)\r?\n/, 'the start line'))[1]!;
  t.ok(sim.sessions.has(sessionId), 'the line names a simulator session');
  t.equal(startedSessions(sim)[0]?.target, 'i-0123456789abcdef0', 'the Name tag chose the instance');
  await term.after(0, PROMPT, 'the remote prompt');

  let mark = term.screen().length;
  term.pty.write('echo $((6*7))-marker\r');
  await term.after(mark, /42-marker/, 'the command output');

  term.pty.resize(100, 30);
  // The resize reaches the agent asynchronously: ask until the remote pty has followed.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const from = term.screen().length;
    term.pty.write('stty size\r');
    const size = (await term.after(from, /[\r\n](\d+ \d+)\r*\n/, '`stty size` output'))[1];
    if (size === '30 100' || Date.now() > deadline) {
      t.equal(size, '30 100', 'the remote terminal follows a resize');
      break;
    }
  }

  mark = term.screen().length;
  term.pty.write('sleep 30\r');
  const sleeping = await waitFor(() => descendants(process.pid).find((pid) => (commandLine(pid) ?? []).join(' ') === 'sleep 30'), {
    what: 'the remote sleep to run',
    timeoutMs: 10_000,
  });
  await term.after(mark, /sleep 30[^\n]*\n/, 'the echo of `sleep 30`');
  mark = term.screen().length;
  term.pty.write('\x03');
  await term.after(mark, PROMPT, 'the prompt after Ctrl-C', 10_000);
  t.notOk(commandLine(sleeping)?.[0] === 'sleep', 'Ctrl-C interrupted the remote command');
  t.equal(term.exit(), undefined, 'ssm-session is still running');

  mark = term.screen().length;
  term.pty.write('exit\r');
  await term.after(mark, new RegExp(`Exiting session with sessionId: ${sessionId}\\.`), 'the exit line');
  await term.exited;
  t.equal(term.exit()?.exitCode, 0, 'exits 0');
  t.notOk(term.screen().includes(sim.sessions.get(sessionId)!.token), 'the token never appears');
});

t.test('shell: Enter ~ . ends the session locally and calls TerminateSession', async (t) => {
  const { sim, env } = await setup(t);
  const term = openTerminal(t, ['-q', 'shell', 'i-0123456789abcdef0'], env);
  await term.after(0, PROMPT, 'the remote prompt');
  t.notMatch(term.screen(), /Starting session/, '-q: no start line');
  term.pty.write('\r~.');
  await waitFor(() => term.exit(), { what: 'ssm-session to exit', timeoutMs: 10_000, context: () => printable(term.screen()) });
  t.equal(term.exit()?.exitCode, 0, 'exits 0');
  await waitFor(() => sim.apiCalls.some((c) => c.operation === 'TerminateSession'), { what: 'TerminateSession', timeoutMs: 5000 });
  t.pass('TerminateSession was called');
});
