// The release binary of the platform this runs on, run natively (here, and on the native CI
// runners of .github/workflows/release.yml: macOS arm64 and x64, Windows x64, Linux arm64):
// --version under both names, a port-forwarding transfer through the plugin, and, where the
// simulator can start a shell (not on Windows), a shell session and `ssm-session run`. On
// macOS, Apple's own codesign verifies the ad-hoc signature. Uses no /proc and no symbolic
// links, so that it runs on every platform.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostTarget } from '../../scripts/release/targets.ts';
import { startSimulator } from '../../src/simulator/index.ts';
import { ENV_NAME, sdkStartSession, TARGET } from '../helpers/port-session.ts';
import { checkTransfer, forwardingSession, releaseBinary, releaseReport } from '../helpers/release-files.ts';
import { waitFor } from '../helpers/wait.ts';

const REGION = 'us-east-1';

interface Run {
  output(): string;
  exit: Promise<number | null>;
  kill(): void;
  stdin: NodeJS.WritableStream;
}

function runBinary(exe: string, args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(exe, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { output: () => output, exit, kill: () => child.kill('SIGKILL'), stdin: child.stdin };
}

const host = hostTarget();
const report = releaseReport(t);
if (!host) t.fail(`no release target for ${process.platform}-${process.arch}`);
else if (report) {
  const binary = releaseBinary(t, report, host.id);
  if (binary) {
    const second = path.join(path.dirname(binary), `ssm-session${host.suffix}`);
    const home = mkdtempSync(path.join(tmpdir(), 'native-smoke-'));
    t.teardown(() => rmSync(home, { recursive: true, force: true }));
    writeFileSync(path.join(home, 'aws-config'), '');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_OPTIONS: '',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_REGION: REGION,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: path.join(home, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-config'),
      NO_PROXY: '127.0.0.1',
      no_proxy: '127.0.0.1',
    };
    delete env.NODE_V8_COVERAGE;

    t.test(`${host.id}: --version under both names`, async (t) => {
      for (const exe of [binary, second]) {
        const result = spawnSync(exe, ['--version'], { env, encoding: 'utf8' });
        t.equal(result.status, 0, `${path.basename(exe)} exits 0`);
        t.equal(result.stdout.replace(/\r\n/g, '\n'), `${report.version}\n`, `${path.basename(exe)} prints the version`);
      }
    });

    if (process.platform === 'darwin') {
      t.test('codesign verifies the ad-hoc signature', async (t) => {
        const verify = spawnSync('codesign', ['--verify', '--strict', '--verbose=2', binary], { encoding: 'utf8' });
        t.equal(verify.status, 0, `codesign --verify\n${verify.stderr}`);
        const details = spawnSync('codesign', ['--display', '--verbose=4', binary], { encoding: 'utf8' });
        t.match(details.stderr, /Signature=adhoc/);
      });
    }

    t.test(`${host.id}: sessions against the simulator`, async (t) => {
      const sim = await startSimulator({ pacing: false, shellDelayMs: 50, frameLogLimit: 0 });
      t.teardown(() => sim.close());
      const pluginArgs = (request: object) => [ENV_NAME, REGION, 'StartSession', '', JSON.stringify(request), sim.endpoint];

      t.test('a port-forwarding transfer through the plugin', async (t) => {
        const size = 4 * 1024 * 1024;
        const { server, request, response } = await forwardingSession(t, sim, size);
        const run = runBinary(binary, pluginArgs(request), { ...env, [ENV_NAME]: JSON.stringify(response) });
        t.teardown(() => run.kill());
        const match = await waitFor(() => /Port (\d+) opened for sessionId/.exec(run.output()), { what: 'the Port N opened notice', timeoutMs: 30_000, context: run.output });
        await checkTransfer(t, server, Number(match[1]), size, 'natively');
      });

      // The simulated agent runs /bin/bash in a pty for shells and commands.
      if (process.platform !== 'win32') {
        t.test('a shell session through the plugin', async (t) => {
          const response = await sdkStartSession(sim);
          const run = runBinary(binary, pluginArgs({ Target: TARGET }), { ...env, [ENV_NAME]: JSON.stringify(response) });
          t.teardown(() => run.kill());
          run.stdin.end('echo native-$((6*7))\nexit\n');
          t.equal(await run.exit, 0, `exits 0\n${run.output()}`);
          t.match(run.output(), /native-42/);
        });

        t.test('a command through ssm-session', async (t) => {
          const run = runBinary(second, ['run', TARGET, '--', 'echo ssm-$((6*7))'], { ...env, AWS_ENDPOINT_URL_SSM: sim.endpoint });
          t.teardown(() => run.kill());
          run.stdin.end();
          t.equal(await run.exit, 0, `exits 0\n${run.output()}`);
          t.equal(run.output(), 'ssm-42\n');
        });
      }
    });
  }
}
