// Checks what `npm run build` produced (the test run builds first): the single executable,
// the npm bin launcher and the embedded SDK bundle.
import t from 'tap';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { compileSdkBundle, loadSsmSdk, SDK_ASSET, SDK_CACHE_ASSET } from '../src/aws/load-sdk.ts';
import { isVersionAbove } from '../src/protocol/version.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const exe = path.join(dist, process.platform === 'win32' ? 'session-manager-plugin.exe' : 'session-manager-plugin');
const launcher = path.join(root, 'bin', 'session-manager-plugin.cjs');

/** The `t` a test callback receives. */
type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

const INSTALL_CHECK = '\nThe Session Manager plugin was installed successfully. Use the AWS CLI to start a session.\n\n';

/**
 * The environment without tap's NODE_OPTIONS (its loaders) and NODE_V8_COVERAGE (coverage
 * of the built bundle would only clutter the report), plus `extra`.
 */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  return { ...env, ...extra };
}

function run(command: string, args: string[], env = cleanEnv()): SpawnSyncReturns<string> {
  return spawnSync(command, args, { env, encoding: 'utf8', timeout: 30_000 });
}

function checkVersion(t: TestContext, result: SpawnSyncReturns<string>): void {
  t.equal(result.status, 0, 'exits 0');
  t.equal(result.stderr, '', 'nothing on stderr');
  t.match(result.stdout, /^\d+\.\d+\.\d+\.\d+\n$/, 'prints a 4-part version and a newline');
  const version = result.stdout.trim();
  t.ok(isVersionAbove(version, '1.2.497.0'), `${version} > 1.2.497.0`);
}

t.test('the single executable', async (t) => {
  if (!existsSync(exe)) {
    t.fail(`${path.relative(root, exe)} is missing: run \`npm run build\` first`);
    return;
  }

  t.test('--version', async (t) => {
    checkVersion(t, run(exe, ['--version']));
  });

  t.test('no arguments: the install check', async (t) => {
    const result = run(exe, []);
    t.equal(result.status, 0, 'exits 0');
    t.equal(result.stdout, INSTALL_CHECK, 'prints exactly the install message');
    t.equal(result.stderr, '', 'nothing on stderr');
  });

  t.test('NODE_OPTIONS is not honoured', async (t) => {
    for (const options of ['--require=/nonexistent', '--import=/nonexistent', '--no-such-node-flag']) {
      const result = run(exe, ['--version'], cleanEnv({ NODE_OPTIONS: options }));
      t.equal(result.status, 0, `exits 0 with NODE_OPTIONS=${options}`);
      t.match(result.stdout, /^\d+\.\d+\.\d+\.\d+\n$/, 'still prints the version');
      t.equal(result.stderr, '', 'nothing on stderr');
    }
  });

  t.test('V8 runs with the memory settings of scripts/lib/sea.ts', async (t) => {
    // What the build baked into the binary. A 1 MiB semi-space took 3-5 MiB off the V8
    // heap's growth during a 64 MiB transfer each way (scripts/bench-port.mjs rss).
    // Optimising compilation stays on a worker: on the main thread it stalled keystrokes
    // beside a bulk upload (scripts/lib/sea.ts).
    const config = JSON.parse(readFileSync(path.join(dist, 'sea-config.json'), 'utf8')) as { execArgv: string[] };
    t.ok(config.execArgv.includes('--max-semi-space-size=1'), 'a young generation of 1 MiB semi-spaces');
    t.notOk(config.execArgv.includes('--no-concurrent-recompilation'), 'the optimising compiler runs on a worker thread');
  });

  t.test('no ExperimentalWarning', async (t) => {
    for (const args of [['--version'], []]) {
      const result = run(exe, args);
      t.notMatch(result.stderr, /ExperimentalWarning|experimental/i, `none for [${args.join(' ')}]`);
    }
  });
});

t.test('the npm bin launcher runs the bundle', async (t) => {
  checkVersion(t, run(process.execPath, [launcher, '--version']));
  const result = run(process.execPath, [launcher]);
  t.equal(result.status, 0);
  t.equal(result.stdout, INSTALL_CHECK);
});

t.test('the bundle loads zlib, tls and https only when first used', async (t) => {
  // Start-up time: ws requires zlib although compression is off, and tls with
  // --use-system-ca reads the OS store; a ws:// session needs neither.
  const dir = mkdtempSync(path.join(tmpdir(), 'bundle-probe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const probe = path.join(dir, 'probe.cjs');
  // SIGUSR2 makes the probe report what is loaded by then (an exit handler would also see
  // what ending the session loads: the SDK for TerminateSession).
  writeFileSync(probe, "process.on('SIGUSR2', () => process.stderr.write('\\n' + JSON.stringify(process.moduleLoadList) + '\\n'));\n");
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const response = { SessionId: 's-probe', TokenValue: 'token', StreamUrl: `ws://127.0.0.1:${port}/v1/data-channel/s-probe` };
  const child = spawn(process.execPath, ['--require', probe, launcher, 'AWS_SSM_START_SESSION_RESPONSE', 'us-east-1', 'StartSession', '', '{"Target":"i-0"}', 'http://127.0.0.1:9'], {
    env: cleanEnv({ AWS_SSM_START_SESSION_RESPONSE: JSON.stringify(response), AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'probe' }),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // The OpenDataChannel text is the session's first message: the plugin is past start-up.
  // Listening from the 'connection' event on: the first frame may come in the same read.
  const opening = await new Promise<Buffer>((resolve) => server.once('connection', (socket: WebSocket) => socket.once('message', resolve)));
  t.match(opening.toString(), /"TokenValue":"token"/, 'the plugin sent OpenDataChannel');
  const report = new Promise<string>((resolve) => child.stderr.on('data', () => /\n\[.*\]\n/.test(stderr) && resolve(stderr)));
  child.kill('SIGUSR2');
  const text = await report;
  child.kill('SIGKILL');
  const loaded = JSON.parse(/\n(\[.*\])\n/.exec(text)![1]!) as string[];
  for (const name of ['zlib', 'tls', 'https']) t.notOk(loaded.includes(`NativeModule ${name}`), `${name} not loaded`);
  t.ok(loaded.includes('NativeModule net'), 'the probe sees what the bundle did load (net)');
});

t.test('the embedded SDK bundle loads with only Node built-ins', async (t) => {
  const sdkFile = path.join(dist, SDK_ASSET);
  if (!existsSync(sdkFile)) {
    t.fail(`${path.relative(root, sdkFile)} is missing: run \`npm run build\` first`);
    return;
  }
  const code = readFileSync(sdkFile, 'utf8');
  const cacheFile = path.join(dist, SDK_CACHE_ASSET);
  const cache = existsSync(cacheFile) ? new Uint8Array(readFileSync(cacheFile)) : undefined;
  const { exports, cacheRejected } = compileSdkBundle(code, cache);
  t.comment(`code cache ${cache === undefined ? 'absent' : cacheRejected ? 'rejected' : 'accepted'} here`);
  const getSsm = exports['@aws-sdk/client-ssm'];
  t.type(getSsm, 'function', 'has a getter for @aws-sdk/client-ssm');
  const ssm = getSsm!();
  t.type(ssm.SSMClient, 'function', 'SSMClient');
  t.type(ssm.TerminateSessionCommand, 'function', 'TerminateSessionCommand');
  t.type(ssm.ResumeSessionCommand, 'function', 'ResumeSessionCommand');
  t.equal(getSsm!(), ssm, 'the getter returns the same module each time');
});

t.test('loadSsmSdk from source', async (t) => {
  const [a, b] = await Promise.all([loadSsmSdk(), loadSsmSdk()]);
  t.equal(a, b, 'memoised');
  t.type(a.SSMClient, 'function');
});
