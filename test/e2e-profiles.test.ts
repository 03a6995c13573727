// End to end: credentials as users have them. Shared config and credentials files with a
// default and a named profile, the profile given by `--profile` or AWS_PROFILE, and a
// `credential_process` profile (KMS with credential_process is a known failure of the
// official plugin). The simulator records the access key id of each request's SigV4
// signature, which proves whose credentials signed StartSession (the CLI), KMS
// GenerateDataKey, ResumeSession and TerminateSession (the plugin, or ssm-session).
import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Simulator } from '../src/simulator/index.ts';
import { awsClis, REGION, requireAwsCli, type AwsCli, type Sandbox } from './helpers/aws-cli-sandbox.ts';
import { requireBinary, withSandbox, withSimulator } from './helpers/plugin-fixtures.ts';
import { commandLine, descendants, start } from './helpers/processes.ts';
import { TARGET } from './helpers/port-session.ts';
import { SSM_SESSION_BINARY } from './helpers/ssm-session-cli.ts';
import { printable, waitFor } from './helpers/wait.ts';

const KEYS = { default: 'AKIADEFAULTPROFILE01', work: 'AKIAWORKPROFILE00001', process: 'AKIACREDPROCESS00001' };

/** Writes the sandbox's shared config and credentials files; returns the env that uses only them. */
function writeProfiles(sandbox: Sandbox, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const credentialProcess = path.join(sandbox.dir, 'credential-process.sh');
  const expiration = new Date(Date.now() + 3600_000).toISOString();
  writeFileSync(
    credentialProcess,
    `#!/bin/sh\nprintf '%s\\n' '${JSON.stringify({ Version: 1, AccessKeyId: KEYS.process, SecretAccessKey: 'process-secret', SessionToken: 'process-session-token', Expiration: expiration })}'\n`,
  );
  chmodSync(credentialProcess, 0o755);
  writeFileSync(
    path.join(sandbox.dir, 'aws-credentials'),
    `[default]\naws_access_key_id = ${KEYS.default}\naws_secret_access_key = default-secret\n\n` +
      `[work]\naws_access_key_id = ${KEYS.work}\naws_secret_access_key = work-secret\n`,
  );
  writeFileSync(
    path.join(sandbox.dir, 'aws-config'),
    `[default]\nregion = ${REGION}\n\n[profile work]\nregion = ${REGION}\n\n` +
      `[profile proc]\nregion = ${REGION}\ncredential_process = ${credentialProcess}\n`,
  );
  const env = sandbox.env(extra);
  // Credentials come from the files only, as on a user's machine.
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_REGION', 'AWS_REGION']) delete env[name];
  return env;
}

/** [operation, access key id] of every HTTP API call, in order (the agent's own KMS calls left out). */
function signers(sim: Simulator): Array<[string, string | undefined]> {
  return sim.apiCalls.filter((c) => c.caller === undefined).map((c) => [c.operation, c.accessKeyId]);
}

interface ProfileCase {
  name: string;
  /** Extra arguments for the AWS CLI or ssm-session, before the command. */
  args: string[];
  env: Record<string, string>;
  key: string;
  /** What argv[4] of the plugin is, per CLI. */
  profileArg: (cli: AwsCli) => string;
}

const cases: ProfileCase[] = [
  { name: '--profile work', args: ['--profile', 'work'], env: {}, key: KEYS.work, profileArg: () => 'work' },
  // AWS CLI v1 passes only --profile on; v2 (2.9) passes the session's profile, AWS_PROFILE too.
  { name: 'AWS_PROFILE=work', args: [], env: { AWS_PROFILE: 'work' }, key: KEYS.work, profileArg: (cli) => (cli.major === 1 ? '' : 'work') },
  { name: 'a credential_process profile', args: ['--profile', 'proc'], env: {}, key: KEYS.process, profileArg: () => 'proc' },
];

for (const cli of awsClis()) {
  for (const c of cases) {
    // credential_process through one CLI: the plugin's side does not depend on which.
    if (c.name.includes('credential_process') && cli.major === 1) continue;
    t.test(`${cli.label}, ${c.name}: KMS, ResumeSession and TerminateSession are signed with the profile's key`, async (t) => {
      if (!requireBinary(t)) return;
      const aws = requireAwsCli(t, cli);
      if (!aws) return;
      const sim = await withSimulator(t, { tls: true, shellDelayMs: 50, kmsKeyId: 'alias/session-key' });
      const sandbox = withSandbox(t);
      const env = writeProfiles(sandbox, { AWS_ENDPOINT_URL_KMS: sim.httpsEndpoint!, ...c.env });
      const run = start(aws, ['ssm', 'start-session', '--target', TARGET, '--endpoint-url', sim.httpsEndpoint!, '--region', REGION, ...c.args], {
        env,
        timeoutMs: 40_000,
      });
      t.teardown(() => run.kill());
      const until = (what: string, condition: () => boolean) =>
        waitFor(condition, {
          what,
          timeoutMs: 20_000,
          context: () => `${printable(run.stdout().toString())}\n--- stderr ---\n${printable(run.stderr().toString())}`,
          abort: () => (run.exited() ? 'aws exited' : undefined),
        });
      run.child.stdin.write('echo one-$((1+1))\n');
      await until('the first output', () => run.stdout().includes('one-2'));
      const sessionId = [...sim.sessions.keys()][0]!;
      const pluginPid = descendants(run.child.pid!).find((pid) => path.basename(commandLine(pid)?.[0] ?? '') === 'session-manager-plugin');
      t.equal(commandLine(pluginPid ?? -1)?.[4], c.profileArg(cli), `argv[4] of the plugin is ${JSON.stringify(c.profileArg(cli))}`);

      sim.disconnectClient(sessionId);
      await until('the resumed connection', () => sim.openDataChannelMessages.filter((r) => r.accepted).length === 2);
      const mark = run.stdout().length;
      run.child.stdin.write('echo two-$((1+2))\n');
      await until('output after the reconnect', () => run.stdout().subarray(mark).includes('two-3'));
      process.kill(pluginPid!, 'SIGTERM');
      const result = await run.result;
      t.equal(result.code, 0, 'aws exits 0 after the plugin got SIGTERM', { stderr: result.stderr.toString() });
      t.same(
        signers(sim),
        [
          ['StartSession', c.key],
          ['GenerateDataKey', c.key],
          ['ResumeSession', c.key],
          ['TerminateSession', c.key],
        ],
        "every request, the CLI's and the plugin's, was signed with the profile's key",
      );
      t.equal(sim.sessions.get(sessionId)?.agent.encrypted, true, 'the session was KMS-encrypted');
      t.notMatch(result.stderr.toString(), /warn|error|credential/i, 'no warning or error on stderr');
    });
  }
}

t.test("ssm-session: --profile with credential_process, and AWS_PROFILE, sign StartSession and KMS", async (t) => {
  if (!requireBinary(t)) return;
  const sim = await withSimulator(t, { tls: true, shellDelayMs: 50, kmsKeyId: 'alias/session-key' });
  const sandbox = withSandbox(t);
  for (const c of [cases[2]!, cases[1]!]) {
    const env = writeProfiles(sandbox, { AWS_ENDPOINT_URL_SSM: sim.httpsEndpoint!, AWS_ENDPOINT_URL_KMS: sim.httpsEndpoint!, ...c.env });
    const before = sim.apiCalls.length;
    const result = await start(SSM_SESSION_BINARY, [...c.args, 'run', TARGET, '--', 'echo', 'signed'], { env, timeoutMs: 30_000 }).result;
    t.equal(result.code, 0, `${c.name}: exit 0`, { stderr: result.stderr.toString() });
    t.ok(result.stdout.toString().endsWith('signed\n'), `${c.name}: the output`);
    const calls = sim.apiCalls.slice(before).filter((call) => call.caller === undefined);
    t.same(
      calls.map((call) => [call.operation, call.accessKeyId]),
      [['DescribeInstanceInformation', c.key], ['StartSession', c.key], ['GenerateDataKey', c.key]],
      `${c.name}: the platform lookup (run wraps the command for it), StartSession and GenerateDataKey signed with the profile's key`,
    );
  }
});
