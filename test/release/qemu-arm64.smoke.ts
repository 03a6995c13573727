// The linux-arm64 binary of the release under qemu-user (qemu-aarch64-static with the arm64
// cross libraries from libc6-arm64-cross, libstdc++6-arm64-cross, libatomic1-arm64-cross):
// --version under both names, a shell session and a port-forwarding transfer through the
// plugin, and a command through ssm-session (the embedded SDK, compiled without a code
// cache on this platform), all against the simulator.
import t from 'tap';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startSimulator } from '../../src/simulator/index.ts';
import { createSandbox, findOnPath, REGION } from '../helpers/aws-cli-sandbox.ts';
import { ENV_NAME, sdkStartSession, startProcess, TARGET } from '../helpers/port-session.ts';
import { checkTransfer, forwardingSession, releaseBinary, releaseReport } from '../helpers/release-files.ts';

const SYSROOT = '/usr/aarch64-linux-gnu';

const report = releaseReport(t);
const qemu = findOnPath('qemu-aarch64-static') ?? findOnPath('qemu-aarch64');
const binary = report && releaseBinary(t, report, 'linux-arm64');

if (!qemu || !existsSync(path.join(SYSROOT, 'lib', 'libatomic.so.1'))) {
  t.fail('qemu-aarch64-static and the arm64 cross libraries are needed (apt-get install qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libatomic1-arm64-cross)');
} else if (report && binary) {
  const sibling = path.join(path.dirname(binary), 'ssm-session');
  const under = (exe: string, args: string[]) => ['-L', SYSROOT, exe, ...args];

  t.test(`linux-arm64 under ${path.basename(qemu)}`, async (t) => {
    const sim = await startSimulator({ pacing: false, shellDelayMs: 50, frameLogLimit: 0 });
    t.teardown(() => sim.close());
    const sandbox = createSandbox();
    t.teardown(() => sandbox.remove());
    const env = sandbox.env({ AWS_ENDPOINT_URL_SSM: sim.endpoint });
    const pluginArgs = (request: object) => [ENV_NAME, REGION, 'StartSession', '', JSON.stringify(request), sim.endpoint];

    t.test('--version under both names', async (t) => {
      for (const [exe, label] of [
        [binary, 'session-manager-plugin'],
        [sibling, 'ssm-session'],
      ] as const) {
        const run = startProcess(qemu, under(exe, ['--version']), env, 60_000);
        const exit = await run.exit;
        t.equal(exit.code, 0, `${label} exits 0\n${run.describe()}`);
        t.equal(run.stdout(), `${report.version}\n`, `${label} prints the version`);
      }
    });

    t.test('a shell session through the plugin', async (t) => {
      const response = await sdkStartSession(sim);
      const plugin = startProcess(qemu, under(binary, pluginArgs({ Target: TARGET })), { ...env, [ENV_NAME]: JSON.stringify(response) }, 90_000);
      t.teardown(() => plugin.kill());
      plugin.child.stdin.end('echo arm-$((6*7)) $(uname -m)\nexit\n');
      const exit = await plugin.exit;
      t.equal(exit.code, 0, `exits 0\n${plugin.describe()}`);
      t.match(plugin.stdout(), /arm-42 x86_64/, 'the remote shell ran the command (the simulated instance is this x86-64 host)');
      t.match(plugin.stdout(), `Exiting session with sessionId: ${response.SessionId}.`);
    });

    t.test('a port-forwarding transfer through the plugin', async (t) => {
      const size = 2 * 1024 * 1024;
      const { server, request, response } = await forwardingSession(t, sim, size);
      const plugin = startProcess(qemu, under(binary, pluginArgs(request)), { ...env, [ENV_NAME]: JSON.stringify(response) }, 120_000);
      t.teardown(() => plugin.kill());
      const port = Number((await plugin.waitStdout(/Port (\d+) opened for sessionId/, 'the Port N opened notice', 60_000))[1]);
      await checkTransfer(t, server, port, size, 'under qemu');
      plugin.child.kill('SIGTERM');
      const exit = await plugin.exit;
      t.equal(exit.code, 0, 'SIGTERM: exits 0');
      t.match(plugin.stdout() + plugin.stderr(), /Terminate signal received, exiting\./);
    });

    t.test('a command through ssm-session', async (t) => {
      const run = startProcess(qemu, under(sibling, ['run', TARGET, '--', 'echo ssm-$((6*7))']), env, 90_000);
      t.teardown(() => run.kill());
      run.child.stdin.end();
      const exit = await run.exit;
      t.equal(exit.code, 0, `exits 0\n${run.describe()}`);
      t.equal(run.stdout(), 'ssm-42\n');
    });
  });
}
