// `npm start`: the built-in simulator on 127.0.0.1 plus the plugin in this terminal,
// an interactive shell through the full protocol. No AWS account involved.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { startSimulator } from '../src/simulator/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = yargs(hideBin(process.argv))
  .usage('npm start -- [options]')
  .option('target', { type: 'string', default: 'i-0123456789abcdef0', describe: 'instance id to "connect" to' })
  .option('binary', { type: 'boolean', default: false, describe: 'run dist/session-manager-plugin (npm run build) instead of the source' })
  .option('pacing', { type: 'boolean', default: true, describe: "the agent's 1 ms pause per 1 KiB of output" })
  .strict()
  .parseSync();

const simulator = await startSimulator({ pacing: argv.pacing });
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'simulator-secret' };
const { SSMClient, StartSessionCommand } = await import('@aws-sdk/client-ssm');
const ssm = new SSMClient({ region: 'us-east-1', endpoint: simulator.endpoint, credentials });
const response = await ssm.send(new StartSessionCommand({ Target: argv.target }));
ssm.destroy();

process.stderr.write(`Simulator (SSM API and data channel) on ${simulator.endpoint}; type \`exit\` to end the session.\n`);

const binary = path.join(root, 'dist', 'session-manager-plugin');
if (argv.binary && !existsSync(binary)) {
  process.stderr.write('dist/session-manager-plugin is missing: run `npm run build` first.\n');
  process.exit(1);
}
const [command, prefix] = argv.binary ? [binary, []] : [process.execPath, [path.join(root, 'src', 'cli', 'main.ts')]];
// The same contract the AWS CLI uses: the response in an environment variable.
const child = spawn(
  command,
  [...prefix, 'AWS_SSM_START_SESSION_RESPONSE', 'us-east-1', 'StartSession', '', JSON.stringify({ Target: argv.target }), simulator.endpoint],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      AWS_SSM_START_SESSION_RESPONSE: JSON.stringify({ SessionId: response.SessionId, TokenValue: response.TokenValue, StreamUrl: response.StreamUrl }),
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  },
);
// Like the AWS CLI: while the plugin runs, keyboard signals are its business.
for (const signal of ['SIGINT', 'SIGQUIT', 'SIGTSTP']) process.on(signal, () => {});
child.on('exit', async (code, signal) => {
  await simulator.close();
  process.exit(code ?? (signal ? 1 : 0));
});
