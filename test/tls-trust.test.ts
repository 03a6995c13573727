// What TLS connections trust (src/net/tls-trust.ts), proven against the simulator's
// HTTPS/wss:// side, whose certificate comes from a throwaway CA:
// - the OS store, reached through SSL_CERT_FILE as OpenSSL and Go read it (the official
//   plugin's trust), in the single executables (Node's --use-system-ca), and in the npm
//   launcher run by a Node without tls.getCACertificates (the file/directory fallback);
// - AWS_CA_BUNDLE, for the API calls and the data channel alike;
// - an untrusted certificate: one clear line, no retries, no stack trace, no token sent;
// - TLS inside an HTTPS_PROXY CONNECT tunnel, for the API and the data channel.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectWebSocket, UntrustedCertificateError } from '../src/transport/websocket-transport.ts';
import { ConfigurationError, osStoreFromFiles, tlsTrust, untrustedCertificateMessage } from '../src/net/tls-trust.ts';
import { throwawayTls } from '../src/simulator/tls.ts';
import type { Simulator } from '../src/simulator/index.ts';
import { findOnPath, PLUGIN_BINARY, REGION, ROOT, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { startConnectProxy } from './helpers/connect-proxy.ts';
import { requireBinary, withSandbox, withSimulator, type TestContext } from './helpers/plugin-fixtures.ts';
import { ENV_NAME, sdkStartSession, TARGET, type StartResponse } from './helpers/port-session.ts';
import { start, type RunResult } from './helpers/processes.ts';
import { SSM_SESSION_BINARY } from './helpers/ssm-session-cli.ts';
import { printable, waitFor } from './helpers/wait.ts';

const CA = throwawayTls();

/** The same session over wss:// (the simulator's port speaks both). */
const overTls = (response: StartResponse): StartResponse => ({ ...response, StreamUrl: response.StreamUrl.replace(/^ws:/, 'wss:') });

function describe(result: RunResult): string {
  return `exit ${result.code}${result.timedOut ? ' (KILLED AT DEADLINE)' : ''}\n--- stdout ---\n${printable(result.stdout.toString())}\n--- stderr ---\n${printable(result.stderr.toString())}`;
}

t.test('the OS store as Go reads it on Linux: SSL_CERT_FILE instead of the distributions\' files, every file of SSL_CERT_DIR', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tls-trust-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const certs = path.join(dir, 'certs');
  execFileSync('mkdir', [certs]);
  writeFileSync(path.join(certs, 'a.pem'), `junk\n${CA.caPem}more junk\n`);
  writeFileSync(path.join(certs, 'not-a-cert.txt'), 'hello');
  const file = path.join(dir, 'bundle.pem');
  writeFileSync(file, CA.caPem + CA.cert.toString());
  t.equal(osStoreFromFiles({ SSL_CERT_FILE: file, SSL_CERT_DIR: path.join(dir, 'none') }).length, 2, 'both certificates of the file');
  t.same(
    osStoreFromFiles({ SSL_CERT_FILE: path.join(dir, 'missing.pem'), SSL_CERT_DIR: `${path.join(dir, 'none')}:${certs}` }).map((p) => p.trim()),
    [CA.caPem.trim()],
    'a missing file is no error; each directory of SSL_CERT_DIR is read, non-certificates ignored',
  );
});

t.test('AWS_CA_BUNDLE that cannot be used is a ConfigurationError naming it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tls-trust-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const empty = path.join(dir, 'empty.pem');
  writeFileSync(empty, 'no certificate here\n');
  t.throws(() => tlsTrust({ AWS_CA_BUNDLE: path.join(dir, 'missing.pem') }), ConfigurationError);
  t.throws(() => tlsTrust({ AWS_CA_BUNDLE: path.join(dir, 'missing.pem') }), /cannot read AWS_CA_BUNDLE \S*missing\.pem/);
  t.throws(() => tlsTrust({ AWS_CA_BUNDLE: empty }), /AWS_CA_BUNDLE \S*empty\.pem holds no PEM certificate/);
  t.ok(tlsTrust({ AWS_CA_BUNDLE: CA.caFile }).secureContext, 'a good bundle gives a secure context');
  t.equal(tlsTrust({ AWS_CA_BUNDLE: CA.caFile }).secureContext, tlsTrust({ AWS_CA_BUNDLE: CA.caFile }).secureContext, 'made once per setting');
  t.match(
    untrustedCertificateMessage(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' })),
    /^the server's TLS certificate is not trusted \(self-signed certificate in certificate chain\); add the CA .* AWS_CA_BUNDLE$/,
  );
  t.equal(untrustedCertificateMessage(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), undefined, 'other errors are left alone');
});

t.test('the data channel (in process): AWS_CA_BUNDLE is trusted, through a CONNECT proxy too; without it, a final error', async (t) => {
  const sim = await withSimulator(t, { tls: true, shellDelayMs: 50 });
  const open = (response: StartResponse) => JSON.stringify({ MessageSchemaVersion: '1.0', RequestId: 'r', TokenValue: response.TokenValue, ClientId: 'c', ClientVersion: '1.2.700.0' });
  const untrusted = overTls(await sdkStartSession(sim));
  const error = await connectWebSocket(untrusted.StreamUrl, { openDataChannel: open(untrusted), env: {} }).then(() => undefined, (err: unknown) => err);
  t.type(error, UntrustedCertificateError, 'an UntrustedCertificateError (final: no retries)');
  t.match((error as Error).message, /^cannot open the data channel to 127\.0\.0\.1:\d+: the server's TLS certificate is not trusted/);
  t.same(sim.openDataChannelMessages, [], 'the token never reached the service');

  const proxy = await startConnectProxy((host, port) => (host === '127.0.0.1' && port === sim.port ? sim.port : undefined));
  t.teardown(() => proxy.close());
  for (const via of ['direct', 'proxy'] as const) {
    const response = overTls(await sdkStartSession(sim));
    const env = { AWS_CA_BUNDLE: CA.caFile, ...(via === 'proxy' ? { HTTPS_PROXY: proxy.url } : {}) };
    const transport = await connectWebSocket(response.StreamUrl, { openDataChannel: open(response), env });
    const record = await waitFor(() => sim.openDataChannelMessages.find((r) => r.sessionId === response.SessionId), {
      what: 'the OpenDataChannel at the gateway',
      timeoutMs: 5000,
    });
    t.match(record, { accepted: true, secure: true }, `${via}: accepted over wss://`);
    transport.close();
  }
  t.same(proxy.tunnels, [`127.0.0.1:${sim.port}`], 'the proxied connection went through one CONNECT tunnel');
});

type Trust = 'OS store (SSL_CERT_FILE)' | 'AWS_CA_BUNDLE';
const trustEnv = (trust: Trust): Record<string, string> =>
  trust === 'AWS_CA_BUNDLE' ? { AWS_CA_BUNDLE: CA.caFile } : { AWS_CA_BUNDLE: '', SSL_CERT_FILE: CA.caFile };

/** Runs the built plugin on a wss:// session with the https endpoint as argv[6]; drops the connection once. */
async function pluginOverTls(t: TestContext, sim: Simulator, sandbox: Sandbox, env: Record<string, string>) {
  const response = overTls(await sdkStartSession(sim));
  const args = [ENV_NAME, REGION, 'StartSession', '', JSON.stringify({ Target: TARGET }), sim.httpsEndpoint!];
  const log = sandbox.logPath(`plugin-${response.SessionId}.log`);
  const run = start(PLUGIN_BINARY, args, {
    env: sandbox.env({ ...env, [ENV_NAME]: JSON.stringify(response), SESSION_MANAGER_PLUGIN_LOG: log }),
    timeoutMs: 30_000,
  });
  t.teardown(() => run.kill());
  return { response, run, log };
}

for (const trust of ['OS store (SSL_CERT_FILE)', 'AWS_CA_BUNDLE'] as const) {
  t.test(`the plugin binary trusts the ${trust} for the data channel and ResumeSession`, async (t) => {
    if (!requireBinary(t)) return;
    const sim = await withSimulator(t, { tls: true, shellDelayMs: 50 });
    const sandbox = withSandbox(t);
    const { response, run } = await pluginOverTls(t, sim, sandbox, trustEnv(trust));
    const until = (what: string, text: string) =>
      waitFor(() => run.stdout().includes(text), { what, timeoutMs: 15_000, context: () => printable(run.stdout().toString()) + printable(run.stderr().toString()), abort: () => (run.exited() ? 'the plugin exited' : undefined) });
    run.child.stdin.write('echo one-$((1+1))\n');
    await until('the first output', 'one-2');
    sim.disconnectClient(response.SessionId);
    await waitFor(() => sim.openDataChannelMessages.filter((r) => r.sessionId === response.SessionId && r.accepted).length === 2, {
      what: 'the resumed connection',
      timeoutMs: 15_000,
      context: () => printable(run.stderr().toString()),
    });
    run.child.stdin.end('echo two-$((1+2))\nexit\n');
    const result = await run.result;
    t.equal(result.code, 0, 'exits 0', { run: describe(result) });
    t.match(result.stdout.toString(), /two-3/, 'the session went on after the reconnect');
    const resumes = sim.apiCalls.filter((c) => c.operation === 'ResumeSession');
    t.same(resumes.map((c) => c.status), [200], 'ResumeSession over HTTPS succeeded');
    t.same(sim.openDataChannelMessages.map((r) => r.secure), [true, true], 'both data channel connections were wss://');
  });
}

t.test('the plugin binary with an untrusted certificate: one line, at once, the token never sent', async (t) => {
  if (!requireBinary(t)) return;
  const sim = await withSimulator(t, { tls: true, shellDelayMs: 50 });
  const sandbox = withSandbox(t);
  const { response, run, log } = await pluginOverTls(t, sim, sandbox, { AWS_CA_BUNDLE: '' });
  const result = await run.result;
  t.equal(result.code, 1, 'exit 1 (the response came through the environment)', { run: describe(result) });
  t.match(
    result.stderr.toString(),
    new RegExp(`^Cannot perform start session: cannot open the data channel to 127\\.0\\.0\\.1:${sim.port}: the server's TLS certificate is not trusted \\([^\\n]+\\); add the CA that issued it to the system's certificate store or to AWS_CA_BUNDLE\\n$`),
    'exactly one line, saying what to do',
  );
  t.notMatch(result.stderr.toString(), /\n\s+at /, 'no stack trace');
  t.notMatch(readFileSync(log, 'utf8'), /connect attempt \d+ failed/, 'no retry: the same certificate would fail again');
  t.same(sim.openDataChannelMessages, [], 'no OpenDataChannel (and so no token) reached the service');
  t.notOk(result.stdout.toString().includes(response.TokenValue) || result.stderr.toString().includes(response.TokenValue), 'the token is not printed');
});

/** A Node on PATH without tls.getCACertificates (before 22.15), which takes the file fallback. */
function nodeWithoutCaApi(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const node = dir && findOnPath('node', dir);
    if (!node) continue;
    try {
      if (execFileSync(node, ['-p', "typeof require('tls').getCACertificates"], { encoding: 'utf8' }).trim() === 'undefined') return node;
    } catch {
      // not a working node
    }
  }
  return undefined;
}

const launchers: Array<{ name: string; command: () => [string, string[]] | undefined }> = [
  { name: 'the ssm-session binary', command: () => [SSM_SESSION_BINARY, []] },
  {
    name: 'bin/ssm-session.cjs under a Node without tls.getCACertificates',
    command: () => {
      const node = nodeWithoutCaApi();
      return node ? [node, [path.join(ROOT, 'bin', 'ssm-session.cjs')]] : undefined;
    },
  },
];

for (const launcher of launchers) {
  t.test(`${launcher.name}: OS store, AWS_CA_BUNDLE, untrusted, and through a CONNECT proxy`, async (t) => {
    if (!requireBinary(t)) return;
    const command = launcher.command();
    if (!command) return void t.fail('no Node older than 22.15 on PATH (the machine image has Node 20 as the system Node)');
    const sim = await withSimulator(t, { tls: true, shellDelayMs: 50 });
    const sandbox = withSandbox(t);
    const proxy = await startConnectProxy((host, port) => (host === '127.0.0.1' && port === sim.port ? sim.port : undefined));
    t.teardown(() => proxy.close());
    const runIt = (env: Record<string, string>) =>
      start(command[0], [...command[1], 'run', TARGET, '--', 'echo', 'trusted'], {
        env: sandbox.env({ AWS_ENDPOINT_URL_SSM: sim.httpsEndpoint!, ...env }),
        timeoutMs: 30_000,
      }).result;
    const cases: Array<[string, Record<string, string>]> = [
      ['OS store (SSL_CERT_FILE)', trustEnv('OS store (SSL_CERT_FILE)')],
      ['AWS_CA_BUNDLE', trustEnv('AWS_CA_BUNDLE')],
      ['AWS_CA_BUNDLE through HTTPS_PROXY', { ...trustEnv('AWS_CA_BUNDLE'), HTTPS_PROXY: proxy.url, NO_PROXY: '', no_proxy: '' }],
    ];
    for (const [label, env] of cases) {
      const before = sim.openDataChannelMessages.length;
      const result = await runIt(env);
      t.equal(result.code, 0, `${label}: exit 0`, { run: describe(result) });
      t.equal(result.stdout.toString(), 'trusted\n', `${label}: the command's output`);
      t.same(sim.openDataChannelMessages.slice(before).map((r) => r.secure), [true], `${label}: the data channel was wss://`);
    }
    t.equal(proxy.tunnels.length, 3, "through the proxy: run's platform lookup, StartSession and the WebSocket each in a CONNECT tunnel");

    const calls = sim.apiCalls.length;
    const untrusted = await runIt({ AWS_CA_BUNDLE: '' });
    t.equal(untrusted.code, 1, 'untrusted: exit 1', { run: describe(untrusted) });
    t.match(
      untrusted.stderr.toString().split('\n').filter((line) => line.startsWith('ssm-session:')),
      [/^ssm-session: StartSession on i-0123456789abcdef0 failed: the server's TLS certificate is not trusted \(.+\); add the CA that issued it/],
      'untrusted: one line saying what to do',
    );
    t.notMatch(untrusted.stderr.toString(), /\n\s+at /, 'untrusted: no stack trace');
    t.equal(sim.apiCalls.length, calls, 'untrusted: no request reached the API (TLS failed before any byte of it)');
  });
}
