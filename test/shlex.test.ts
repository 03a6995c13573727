import t from 'tap';
import { shlexSplit, type ShlexResult } from '../src/simulator/agent/shlex.ts';
import { remoteCommand, shCommand } from '../src/client/remote-command.ts';
import { seededRandom } from '../src/util/prng.ts';
import { buildShlexDriver } from './helpers/go-shlex.ts';

/*
 * The simulator's word splitter against the real github.com/google/shlex (the agent
 * vendors commit e7afc7f; Debian's golang-github-google-shlex-dev is the same commit),
 * through a small Go driver built here: every input must give the same words and the
 * same error, byte for byte. And the commands `ssm-session run` sends must split into
 * exactly the shell and the user's command (agent/session/shell/shell_unix.go,
 * StartCommandExecutor: shlex.Split, then exec of the first word).
 */

const HANDWRITTEN = [
  '',
  ' ',
  'ls',
  'ls -l /tmp',
  '  leading and trailing  ',
  'tabs\tand\r\nnewlines\nhere',
  "single 'quoted words' stay",
  'double "quoted words" stay',
  "it's unclosed",
  'unclosed "double',
  'trailing backslash\\',
  'in "double \\" quote" and "back\\\\slash" and "\\a\\b"',
  "no escapes in 'single \\' quotes",
  'escaped\\ space and \\"quote and \\\\ and \\\nnewline',
  '""',
  "''",
  'a "" b \'\' c',
  'x""y \'\'z',
  'glued"dq"\'sq\'tail',
  '# a comment only',
  'word # comment\nnext',
  'word#not-a-comment',
  '"#quoted" #comment',
  '#c1\n#c2\nafter',
  '# comment with \'quote\nafter',
  'echo $HOME ${X} $(date) `id` *.log ~',
  'cd /var/log && ls; echo done || false | cat > out 2>&1 < in &',
  'echo x >&2',
  'exit 7',
  'sh -c \'echo a; echo b >&2; exit 3\'',
  'unicode: héllo wörld 日本語 🎉 "κείμενο"',
  'nul\u0000byte',
  'lone \ud800 surrogate',
  'back\\\\',
  '\\',
  '"',
  "'",
  '\\#not comment',
  '"multi\nline" \'multi\nline\'',
  'a\u00a0b', // a no-break space is not a separator
  'vertical\u000btab\u000cformfeed',
];

const ALPHABET = [' ', '\t', '\n', '\r', '"', "'", '\\', '#', 'a', 'b', '$', '&', ';', '|', '>', 'é', '日', '🎉', '\u0000'];

function randomInputs(count: number): string[] {
  const random = seededRandom(20241021);
  const inputs: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = Math.floor(random() * 24);
    let text = '';
    for (let j = 0; j < length; j++) text += ALPHABET[Math.floor(random() * ALPHABET.length)];
    inputs.push(text);
  }
  return inputs;
}

/** The Go driver's split for this test (removed with it); undefined, with the test failed, when it cannot be built. */
function driverFor(t: { fail: (message: string) => void; teardown: (fn: () => void) => void }): ((inputs: readonly string[]) => ShlexResult[]) | undefined {
  const driver = buildShlexDriver();
  if ('missing' in driver) {
    t.fail(driver.missing);
    return undefined;
  }
  t.teardown(driver.cleanup);
  return (inputs) => driver.split(inputs);
}

t.test('shlexSplit gives what github.com/google/shlex gives, byte for byte', async (t) => {
  const goSplit = driverFor(t);
  if (!goSplit) return;
  const inputs = [...HANDWRITTEN, ...randomInputs(4000)];
  const expected = goSplit(inputs);
  let differences = 0;
  for (const [index, input] of inputs.entries()) {
    const ours = shlexSplit(input);
    const theirs = expected[index];
    const same =
      JSON.stringify(ours.words.map((w) => Buffer.from(w).toString('hex'))) ===
        JSON.stringify(theirs?.words.map((w) => Buffer.from(w).toString('hex'))) && ours.error === theirs?.error;
    if (!same && differences++ < 10) t.same(ours, theirs, `split of ${JSON.stringify(input)}`);
  }
  t.equal(differences, 0, `${inputs.length} inputs split alike`);
  // A few that pin the rules shlex does not share with sh, so a wrong one is visible here too.
  t.same(shlexSplit('cd /var/log && ls'), { words: ['cd', '/var/log', '&&', 'ls'] });
  t.same(shlexSplit('"a\\b"'), { words: ['ab'] }, 'in double quotes a backslash escapes any character');
  t.same(shlexSplit('a #b\nc'), { words: ['a', 'c'] });
  t.same(shlexSplit("x 'y"), { words: ['x'], error: 'EOF found when expecting closing quote' });
  t.same(shlexSplit('x \\'), { words: ['x'], error: 'EOF found after escape character' });
});

const COMMANDS = [
  '',
  'true',
  'exit 7',
  'echo x >&2',
  'cd /var/log && ls',
  "echo 'single' \"double\" it's",
  'echo "$HOME" ${PATH} $(id -u) `date`',
  "printf '%s\\n' a\\ b 'c\\'d'",
  'line one\nline two\r\n\tindented',
  'echo héllo 日本語 🎉',
  "'''''",
  '#!/bin/sh\n# comment\necho after',
  'a \\',
  'ends with a quote\'',
];

t.test('remoteCommand: the agent splits it into exactly the shell and the command', async (t) => {
  const goSplit = driverFor(t);
  if (!goSplit) return;
  const unix = goSplit(COMMANDS.map((c) => remoteCommand(c, 'Linux')));
  for (const [index, command] of COMMANDS.entries()) {
    t.same(unix[index], { words: ['sh', '-c', command] }, `Linux: ${JSON.stringify(command)}`);
    t.same(shlexSplit(remoteCommand(command, 'MacOS')), { words: ['sh', '-c', command] }, `macOS: ${JSON.stringify(command)}`);
  }
  // Windows (agent/session/shell/shell_windows.go, startExecCmd): `powershell` + the words.
  const windows = goSplit(COMMANDS.map((c) => remoteCommand(c, 'Windows')));
  for (const [index, command] of COMMANDS.entries()) {
    const words = windows[index]?.words ?? [];
    t.same(words.slice(0, 3), ['-NoProfile', '-NonInteractive', '-EncodedCommand'], 'PowerShell switches');
    t.equal(words.length, 4);
    const script = Buffer.from(words[3] ?? '', 'base64').toString('utf16le');
    t.equal(script, command === '' ? ' ' : command, `Windows script: ${JSON.stringify(command)}`);
    t.equal(windows[index]?.error, undefined);
  }
});

t.test('shCommand: a script with $0 and arguments (what cp sends) splits into exactly those words', async (t) => {
  const goSplit = driverFor(t);
  if (!goSplit) return;
  const script = 'printf "%s|" "$0" "$@"';
  const cases = [[], ...COMMANDS.map((c) => [c]), COMMANDS, ["it's a $file \"é\".bin", '-n', '=x', 'plain/path-1.0']];
  const commands = cases.map((args) => shCommand(script, 'ssm-cp', args));
  for (const [index, words] of goSplit(commands).entries()) {
    t.same(words, { words: ['sh', '-c', script, 'ssm-cp', ...(cases[index] ?? [])] }, JSON.stringify(cases[index]));
    t.same(shlexSplit(commands[index] ?? ''), words, 'the simulator splits it the same way');
  }
  t.equal(shCommand('ls', 'x', ['a', 'b c']), "sh -c 'ls' x a 'b c'", 'plain words stay bare');
});
