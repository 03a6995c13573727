// The terminal is left exactly as it was when the plugin, running a shell session in a
// real pty, is ended by SIGTERM or SIGHUP: a shell in the pty records `stty -g` before and
// after the plugin, and the test checks the plugin did change the settings meanwhile (raw
// mode), so that an unchanged terminal after it means a restore, not nothing done.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { pluginInPty, requireBinary, withSandbox, withSimulator } from './helpers/plugin-fixtures.ts';
import { sdkStartSession } from './helpers/port-session.ts';
import { commandLine, descendants } from './helpers/processes.ts';
import { printable, waitFor } from './helpers/wait.ts';

const PROMPT = /sh-\d+\.\d+[$#] /;

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  t.test(`${signal} to the plugin in a pty restores the terminal settings exactly (stty -g)`, async (t) => {
    if (!requireBinary(t)) return;
    const sim = await withSimulator(t, { shellDelayMs: 50 });
    const sandbox = withSandbox(t);
    const response = await sdkStartSession(sim);
    const before = sandbox.logPath('stty-before');
    const after = sandbox.logPath('stty-after');
    const status = sandbox.logPath('status');
    // The wrapper shell owns the pty; the plugin runs in it as in a user's terminal.
    const script = `stty -g > '${before}'; "$0" "$@"; echo $? > '${status}'; stty -g > '${after}'`;
    const { pty, screen: printed, exit, exited } = pluginInPty(t, sim, sandbox, response, script);
    const until = <T>(what: string, condition: () => T | undefined | null | false) =>
      waitFor(condition, { what, timeoutMs: 15_000, context: () => printable(printed()), abort: () => (exit() ? 'the pty shell exited' : undefined) });

    await until('the remote prompt', () => PROMPT.test(printed()));
    const pluginPid = await until('the plugin process', () =>
      descendants(pty.pid).find((pid) => (commandLine(pid)?.[0] ?? '').endsWith('session-manager-plugin')),
    );
    const tty = (pty as unknown as { ptsName: string }).ptsName; // node-pty's unix terminal, untyped
    const during = execFileSync('stty', ['-g', '-F', tty], { encoding: 'utf8' }).trim();
    const original = readFileSync(before, 'utf8').trim();
    t.not(during, original, 'while the session runs, the terminal is in another mode (raw)');
    t.match(execFileSync('stty', ['-a', '-F', tty], { encoding: 'utf8' }), /-icanon/, 'canonical input is off meanwhile');

    process.kill(pluginPid, signal);
    await until('the wrapper to record the settings after the plugin', () => existsSync(after) && readFileSync(after, 'utf8').includes('\n'));
    await exited;
    t.equal(readFileSync(after, 'utf8').trim(), original, 'stty -g after the plugin equals stty -g before it');
    t.equal(readFileSync(status, 'utf8').trim(), '0', 'the plugin exited 0');
    t.match(printed(), new RegExp(`Exiting session with sessionId: ${response.SessionId}\\.`), 'with the exit message');
    await waitFor(() => sim.apiCalls.some((c) => c.operation === 'TerminateSession'), { what: 'TerminateSession', timeoutMs: 5000 });
  });
}
