// Checks the `ssm-session` single executable and npm launcher that `npm run build` made (the
// test run builds first): they start, answer --help and --version, and report usage
// mistakes as one line with exit status 2.
import t from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CLIENT_VERSION } from '../src/protocol/constants.ts';
import { ROOT } from './helpers/aws-cli-sandbox.ts';

const exe = path.join(ROOT, 'dist', process.platform === 'win32' ? 'ssm-session.exe' : 'ssm-session');
const launcher = path.join(ROOT, 'bin', 'ssm-session.cjs');

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

/** Without tap's NODE_OPTIONS (its loaders) and coverage settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  return env;
}

function run(command: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(command, args, { env: cleanEnv(), encoding: 'utf8', timeout: 30_000 });
}

function checkRuns(t: TestContext, command: string, prefix: string[]): void {
  const version = run(command, [...prefix, '--version']);
  t.equal(version.status, 0, '--version exits 0');
  t.equal(version.stdout, `${CLIENT_VERSION}\n`, '--version prints the version');
  t.equal(version.stderr, '', 'nothing on stderr');

  const help = run(command, [...prefix, '--help']);
  t.equal(help.status, 0, '--help exits 0');
  // shell and forward take no target in a terminal (the picker), so theirs is optional.
  for (const name of ['shell [target]', 'run <target>', 'forward [target]', 'ssh-proxy <host> <port>', 'cp <source> <destination>', 'list', '--endpoint-url', '--stats']) {
    t.ok(help.stdout.includes(name), `--help lists ${name}`);
  }
  t.equal(help.stderr, '', 'nothing on stderr');

  const forwardHelp = run(command, [...prefix, 'forward', '--help']);
  t.equal(forwardHelp.status, 0, 'forward --help exits 0');
  t.match(forwardHelp.stdout, /-L .*\[BIND:\]LOCAL:HOST:PORT/, 'forward --help explains -L');
  t.match(forwardHelp.stdout, /--pool/, 'and --pool');

  const usage = run(command, [...prefix, 'forward', 'i-0123456789abcdef0', '-L', '8080:nope']);
  t.equal(usage.status, 2, 'a bad -L exits 2');
  t.equal(usage.stdout, '', 'nothing on stdout');
  t.match(usage.stderr, /^ssm-session: -L 8080:nope: expected \[BIND:\]LOCAL:HOST:PORT.*\nTry 'ssm-session --help' for more information\.\n$/, 'one line saying why, one hint');
  t.notMatch(usage.stderr, /\n\s+at /, 'no stack trace');

  const none = run(command, prefix);
  t.equal(none.status, 2, 'no command exits 2');
  t.match(none.stderr, /^ssm-session: a command is required/, 'and says a command is required');
  t.notMatch(`${version.stderr}${help.stderr}${none.stderr}`, /ExperimentalWarning|experimental/i, 'no ExperimentalWarning');
}

t.test('dist/ssm-session, the single executable', async (t) => {
  if (!existsSync(exe)) {
    t.fail(`${path.relative(ROOT, exe)} is missing: run \`npm run build\` first`);
    return;
  }
  checkRuns(t, exe, []);
});

t.test('bin/ssm-session.cjs, the npm launcher, runs the bundle', async (t) => {
  checkRuns(t, process.execPath, [launcher]);
});
