// The target picker: `shell`, `forward` and `cp` without a target, in a real terminal
// (node-pty), against the simulator's managed instances: the list, filtered as the user
// types, arrows and Enter to choose, Esc to leave (exit 130); without a terminal, a usage
// error. The picker's keys and filtering are also checked without a terminal.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { InstanceSummary } from '../src/client/instances.ts';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { PickerState } from '../src/ssm-session/picker-state.ts';
import { createSandbox } from './helpers/aws-cli-sandbox.ts';
import { cliEnv, runCli, sourceCommand, startedSessions, type TestContext } from './helpers/ssm-session-cli.ts';
import { openTerminal as openPty, type Terminal } from './helpers/ssm-session-pty.ts';
import { printable, waitFor } from './helpers/wait.ts';

const PROMPT = /sh-\d+\.\d+[$#] /;
const CLEAR_BELOW = '\x1b[J';

function instance(id: string, name: string, pingStatus = 'Online'): InstanceSummary {
  return {
    id,
    name,
    pingStatus,
    platformType: 'Linux',
    platform: 'Amazon Linux 2023',
    ipAddress: '10.0.0.1',
    computerName: `${name}.internal`,
    agentVersion: '3.3.987.0',
    resourceType: 'EC2Instance',
    tags: { Name: name },
  };
}

t.test('picker keys and filtering', async (t) => {
  const state = new PickerState([instance('i-01', 'web-1'), instance('i-02', 'worker-1'), instance('i-03', 'worker-2', 'ConnectionLost')]);
  const ids = (): string[] => state.matches.map((i) => i.id);
  t.same(ids(), ['i-01', 'i-02', 'i-03'], 'everything before typing');
  t.equal(state.input('WORK'), undefined);
  t.same(ids(), ['i-02', 'i-03'], 'case does not matter');
  state.input(' lost');
  t.same(ids(), ['i-03'], 'every word must match somewhere in the row');
  state.input('\x7f\x7f\x7f\x7f\x7f');
  t.equal(state.filter, 'WORK', 'Backspace erases');
  state.input('\x15');
  t.equal(state.filter, '', 'Ctrl-U clears');
  t.same(state.input('\x1b[B\x1b[B\x1b[B\x1b[A\r'), { kind: 'choose', instance: state.matches[1] }, 'arrows move (not past the end), Enter chooses');
  t.same(state.input('zzz\r'), undefined, 'Enter with no match does nothing');
  t.same(new PickerState([]).input('\x1b[C\x1b'), { kind: 'cancel' }, 'other escape sequences are skipped; a lone Esc cancels');
  t.same(new PickerState([]).input('\x03'), { kind: 'cancel' }, 'Ctrl-C cancels');
  const lines = new PickerState([instance('i-01', 'web-1'), instance('i-02', 'worker-1')]).render(60, 5, (line) => `[${line}]`);
  t.match(lines, [/^Pick a target/, '> ', /^\[▸ i-01  web-1 /, /^  i-02  worker-1 /, '  2 of 2'], 'the highlighted row is wrapped');
  t.ok(lines.every((line) => line.replace(/^\[(.*)\]$/, '$1').length <= 59), 'no line wider than the terminal');
});

interface PickerTerminal extends Terminal {
  /** The picker as last drawn, without colours. */
  picker(): string;
}

async function setup(t: TestContext): Promise<{ sim: Simulator; env: NodeJS.ProcessEnv }> {
  const sim = await startSimulator({ frameLogLimit: 0, pacing: false, tls: true });
  const sandbox = createSandbox();
  t.teardown(async () => {
    await sim.close();
    sandbox.remove();
  });
  return { sim, env: cliEnv(sandbox, sim, { AWS_ENDPOINT_URL_EC2: sim.httpsEndpoint as string }) };
}

function openTerminal(t: TestContext, args: string[], env: NodeJS.ProcessEnv): PickerTerminal {
  const term = openPty(t, sourceCommand(), args, env, { rows: 30, timeoutMs: 20_000 });
  return { ...term, picker: () => (term.screen().split(CLEAR_BELOW).at(-1) ?? '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '') };
}

t.test('shell without a target: pick one by typing part of its name', async (t) => {
  const { sim, env } = await setup(t);
  const term = openTerminal(t, ['shell'], env);
  await term.after(0, /2 of 5|5 of 5/, 'the picker with every instance');
  t.match(term.picker(), /^Pick a target: type to filter.*\n> \n▸ mi-0123456789abcdef1  sim-onprem .*\n  i-0123456789abcdef0   sim-web .*\n.*sim-worker.*\n.*sim-worker.*\n.*sim-stopped  ConnectionLost.*\n  5 of 5$/s, 'every managed instance, Online first, the first highlighted');

  let mark = term.screen().length;
  term.pty.write('work');
  await term.after(mark, /2 of 5/, 'the list filtered as one types');
  t.match(term.picker(), /^Pick a target.*\n> work\n▸ i-0a1b2c3d4e5f60718  sim-worker .*\n  i-0a1b2c3d4e5f60719  sim-worker .*\n  2 of 5$/s);
  t.notMatch(term.picker(), /sim-web|sim-onprem/, 'the others are gone');

  mark = term.screen().length;
  term.pty.write('\x1b[B');
  await term.after(mark, /▸ i-0a1b2c3d4e5f60719/, 'the arrow moves the highlight');
  term.pty.write('\r');
  await term.after(0, /Target: i-0a1b2c3d4e5f60719 \(sim-worker\)/, 'the choice is said');
  await term.after(0, PROMPT, 'a shell on it');
  t.equal(startedSessions(sim)[0]?.target, 'i-0a1b2c3d4e5f60719', 'the session is on the chosen instance');
  mark = term.screen().length;
  term.pty.write('echo picked-$((6*7))\r');
  await term.after(mark, /picked-42/, 'the shell works (the picker gave the terminal back)');
  term.pty.write('exit\r');
  await waitFor(() => term.exit(), { what: 'ssm-session to exit', timeoutMs: 10_000 });
  t.equal(term.exit()?.exitCode, 0);
});

t.test('cp with :PATH picks the target; Esc leaves with 130', async (t) => {
  const { sim, env } = await setup(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'picker-cp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'src'), 'picked file\n');
  const term = openTerminal(t, ['cp', path.join(dir, 'src'), `:${path.join(dir, 'dst')}`], env);
  await term.after(0, /5 of 5/, 'the picker');
  term.pty.write('sim-web\r');
  await waitFor(() => term.exit(), { what: 'the copy to finish', timeoutMs: 30_000, context: () => printable(term.screen()) });
  t.equal(term.exit()?.exitCode, 0, 'exit 0', { screen: printable(term.screen()) });
  t.equal(readFileSync(path.join(dir, 'dst'), 'utf8'), 'picked file\n');
  t.ok(startedSessions(sim).every((s) => s.target === 'i-0123456789abcdef0'), 'every session on the picked instance');
  t.match(term.screen(), /Target: i-0123456789abcdef0 \(sim-web\)/);
  t.equal(createHash('sha256').update(readFileSync(path.join(dir, 'dst'))).digest('hex'), createHash('sha256').update('picked file\n').digest('hex'));

  const left = openTerminal(t, ['forward', '-L', '0:localhost:22'], env);
  await left.after(0, /5 of 5/, 'the picker');
  left.pty.write('\x1b');
  await waitFor(() => left.exit(), { what: 'ssm-session to leave', timeoutMs: 10_000 });
  t.equal(left.exit()?.exitCode, 130, 'Esc: exit 130');
  t.match(left.screen(), /ssm-session: no target chosen\r?\n/);
  t.match(left.screen(), /\x1b\[\?25h/, 'the cursor is shown again');
});

t.test('no terminal, no target: a usage error', async (t) => {
  const { env } = await setup(t);
  for (const args of [['shell'], ['forward', '-L', '0:localhost:22']]) {
    const result = await runCli(t, args, env);
    t.equal(result.code, 2, `${args[0]}: exit 2`, { run: result.describe });
    t.match(result.stderr, new RegExp(`^ssm-session: ${args[0]}: no TARGET given \\(without a terminal there is no picker; see ssm-session list\\)\\n`));
  }
});
