// The npm package of the release (dist/release/session-manager-plugin-ts-<version>.tgz),
// installed with `npm install -g --prefix <scratch>` by the system's own Node and npm (not
// the Node 24 of the dev dependencies): both commands answer --version, no dev dependency
// came along, and both run real sessions against the simulator on that Node.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../src/simulator/index.ts';
import { createSandbox, REGION } from '../helpers/aws-cli-sandbox.ts';
import { ENV_NAME, sdkStartSession, startProcess, TARGET } from '../helpers/port-session.ts';
import { releaseFile, releaseReport } from '../helpers/release-files.ts';

/** The first `name` on PATH outside any node_modules (the system's Node and npm). */
function systemTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || dir.split(path.sep).includes('node_modules')) continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

const report = releaseReport(t);
const node = systemTool('node');
const npm = systemTool('npm');

if (report && node && npm) {
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const prefix = mkdtempSync(path.join(tmpdir(), 'npm-global-'));
  t.teardown(() => rmSync(prefix, { recursive: true, force: true }));
  // Only the system's Node on PATH: the launchers' `#!/usr/bin/env node` finds it.
  const PATH = [path.join(prefix, 'bin'), path.dirname(node), '/usr/bin', '/bin'].join(path.delimiter);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH, NODE_OPTIONS: '', npm_config_prefix: prefix };
  delete env.NODE_V8_COVERAGE;

  t.test(`npm install -g of the tarball with the system Node (${version})`, async (t) => {
    t.ok(Number(version.slice(1).split('.')[0]) >= 20, `${version} is Node 20 or newer`);
    const tarball = releaseFile(report, /^session-manager-plugin-ts-[\d.]+\.tgz$/);
    const installed = spawnSync(npm, ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      env,
      encoding: 'utf8',
      timeout: 300_000,
    });
    t.equal(installed.status, 0, `npm install -g succeeds\n${installed.stderr}`);
    for (const name of ['session-manager-plugin', 'ssm-session']) {
      const result = spawnSync(path.join(prefix, 'bin', name), ['--version'], { env, encoding: 'utf8' });
      t.equal(result.status, 0, `${name} --version exits 0`);
      t.equal(result.stdout, `${report.version}\n`, `${name} prints ${report.version}`);
      t.equal(result.stderr, '', 'nothing on stderr');
    }
    const modules = path.join(prefix, 'lib', 'node_modules', 'session-manager-plugin-ts', 'node_modules');
    const present = existsSync(modules) ? readdirSync(modules) : [];
    for (const dev of ['esbuild', 'tap', 'typescript', 'node', 'node-pty', 'postject']) t.notOk(present.includes(dev), `no ${dev}`);
    t.ok(present.includes('@aws-sdk'), 'the AWS SDK came as a dependency');
  });

  t.test('ssm-session and the plugin run sessions against the simulator on that Node', async (t) => {
    const sim = await startSimulator({ pacing: false, shellDelayMs: 50, frameLogLimit: 0 });
    t.teardown(() => sim.close());
    const sandbox = createSandbox();
    t.teardown(() => sandbox.remove());
    const sessionEnv = sandbox.env({ PATH, AWS_ENDPOINT_URL_SSM: sim.endpoint });

    // Run asynchronously: the simulator answers from this very process.
    const run = startProcess(path.join(prefix, 'bin', 'ssm-session'), ['run', TARGET, '--', 'echo npm-$((6*7))'], sessionEnv, 60_000);
    t.teardown(() => run.kill());
    run.child.stdin.end();
    const ran = await run.exit;
    t.equal(ran.code, 0, `ssm-session run exits 0\n${run.describe()}`);
    t.equal(run.stdout(), 'npm-42\n', 'the remote command ran and its output came back, nothing else');
    t.equal(run.stderr(), '', 'nothing on stderr (no SDK notice about Node versions either)');

    const response = await sdkStartSession(sim);
    const plugin = startProcess(
      path.join(prefix, 'bin', 'session-manager-plugin'),
      [ENV_NAME, REGION, 'StartSession', '', JSON.stringify({ Target: TARGET }), sim.endpoint],
      { ...sessionEnv, [ENV_NAME]: JSON.stringify(response) },
      60_000,
    );
    t.teardown(() => plugin.kill());
    plugin.child.stdin.end('echo plugin-$((6*7))\nexit\n');
    const exit = await plugin.exit;
    t.equal(exit.code, 0, `the plugin exits 0\n${plugin.describe()}`);
    t.match(plugin.stdout(), /plugin-42/, 'a shell session through the plugin');
    t.match(plugin.stdout(), `Exiting session with sessionId: ${response.SessionId}.`);
  });
} else if (report) {
  t.fail(`no system node/npm outside node_modules on PATH (node: ${node}, npm: ${npm})`);
}
