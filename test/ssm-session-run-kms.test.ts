// `ssm-session run` on a KMS-encrypted session: the agent's customer message ("This
// session is encrypted using AWS KMS.") is a notice, shown on stderr (as the plugin
// shows its messages when stdout carries data) and silenced by -q; stdout stays exactly
// the command's output, so scripts can use it.
import t from 'tap';
import { startSimulator, KMS_CUSTOMER_MESSAGE } from '../src/simulator/index.ts';
import { createSandbox } from './helpers/aws-cli-sandbox.ts';
import { cliEnv, runCli } from './helpers/ssm-session-cli.ts';

const TARGET = 'i-0123456789abcdef0';

t.test('run on a KMS session: the customer message on stderr (not with -q), stdout only the command output', async (t) => {
  const sim = await startSimulator({ pacing: false, frameLogLimit: 0, shellDelayMs: 0, tls: true, kmsKeyId: 'alias/session-key' });
  const sandbox = createSandbox();
  t.teardown(async () => {
    await sim.close();
    sandbox.remove();
  });
  const env = cliEnv(sandbox, sim, { AWS_ENDPOINT_URL_KMS: sim.httpsEndpoint ?? sim.endpoint });

  const loud = await runCli(t, ['run', TARGET, '--', 'echo out-$((40+2)); echo err-line >&2'], env);
  t.equal(loud.code, 0, 'exit 0', { run: loud.describe });
  t.equal(loud.stdout.toString(), 'out-42\n', 'stdout is exactly the command output');
  t.equal(loud.stderr, `${KMS_CUSTOMER_MESSAGE}\nerr-line\n`, 'the customer message, then the command stderr');
  t.ok(sim.apiCalls.some((call) => call.service === 'kms' && call.operation === 'GenerateDataKey'), 'the session was encrypted');

  const quiet = await runCli(t, ['-q', 'run', TARGET, '--', 'echo out-$((40+2)); echo err-line >&2'], env);
  t.equal(quiet.code, 0, 'exit 0 with -q', { run: quiet.describe });
  t.equal(quiet.stdout.toString(), 'out-42\n', 'stdout is exactly the command output');
  t.equal(quiet.stderr, 'err-line\n', 'with -q: only the command stderr');
});
