import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { Direction, LinkShape } from './index.ts';
import { DEFAULT_AGENT_VERSION, DEFAULT_INSTANCES, parseInstanceSpec, startSimulator, type InstanceSpec } from './index.ts';

/** Runs the simulator standalone: `node src/simulator/cli.ts --port 4566`. */
async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('ssm-simulator')
    .usage('$0 [options]\n\nLocal SSM API + message gateway + SSM agent simulator (127.0.0.1 only).')
    .option('port', { type: 'number', default: 0, describe: 'TCP port (0 picks a free one)' })
    .option('tls', {
      type: 'boolean',
      default: true,
      describe: 'also serve HTTPS and wss:// on the port, with a throwaway CA made by openssl (--no-tls for plain HTTP only)',
    })
    .option('pacing', { type: 'boolean', default: true, describe: "agent's 1 ms sleep per 1024-byte read (--no-pacing to disable)" })
    .option('shell-delay-ms', { type: 'number', default: 1000, describe: 'delay before the first pty read' })
    .option('agent-version', { type: 'string', default: DEFAULT_AGENT_VERSION, describe: 'AgentVersion reported in handshakes' })
    .option('seed', { type: 'number', describe: 'seed for fault injection' })
    .option('shell-cwd', { type: 'string', describe: 'working directory of simulated shells' })
    .option('client-buffer-limit', {
      type: 'number',
      describe: 'unsent bytes on a client WebSocket above which the agent stops reading its sources (default 4 MiB)',
    })
    .option('allow-remote-destinations', {
      type: 'boolean',
      default: false,
      describe: 'let port sessions dial non-loopback destinations',
    })
    .option('kms-key-id', {
      type: 'string',
      describe: 'session preferences: KMS key for shell and command sessions (enables KMS encryption)',
    })
    .option('random-challenge', {
      type: 'boolean',
      default: true,
      describe: 'newer agent form: random Challenge in the KMSEncryption action (--no-random-challenge for the older form)',
    })
    .option('require-challenge-ack', {
      type: 'boolean',
      default: false,
      describe: 'reject clients that do not acknowledge the random challenge',
    })
    .option('instance', {
      type: 'string',
      array: true,
      describe: 'a managed instance for DescribeInstanceInformation, ID[:Key=Value,...] (repeatable), e.g. i-0123456789abcdef0:Name=web,env=prod',
    })
    .option('connection-lost', {
      type: 'string',
      array: true,
      describe: 'a target whose agent is offline: ConnectionLost in listings, TargetNotConnected for StartSession (repeatable)',
    })
    .option('default-instances', {
      type: 'boolean',
      default: true,
      describe: 'start with the built-in sample instances (--no-default-instances for only those given)',
    })
    .option('latency-ms', {
      type: 'string',
      describe: 'one-way network latency added by the gateway: N for both directions, or UP,DOWN (client to agent, agent to client)',
    })
    .option('jitter-ms', {
      type: 'string',
      describe: 'extra one-way delay per frame, drawn from 0..N (order kept): N or UP,DOWN',
    })
    .option('bandwidth', {
      type: 'string',
      describe: 'bandwidth limit in bytes per second, e.g. 25e6: N or UP,DOWN (0: none)',
    })
    .strict()
    .help()
    .parse();
  const instances: InstanceSpec[] = [
    ...(argv['default-instances'] ? DEFAULT_INSTANCES : []),
    ...(argv.instance ?? []).map((text) => parseInstanceSpec(text)),
  ];

  const simulator = await startSimulator({
    port: argv.port,
    tls: argv.tls,
    pacing: argv.pacing,
    shellDelayMs: argv['shell-delay-ms'],
    agentVersion: argv['agent-version'],
    ...(argv.seed !== undefined ? { seed: argv.seed } : {}),
    ...(argv['shell-cwd'] !== undefined ? { shellCwd: argv['shell-cwd'] } : {}),
    ...(argv['client-buffer-limit'] !== undefined ? { clientBufferLimit: argv['client-buffer-limit'] } : {}),
    allowRemoteDestinations: argv['allow-remote-destinations'],
    ...(argv['kms-key-id'] !== undefined ? { kmsKeyId: argv['kms-key-id'] } : {}),
    randomChallenge: argv['random-challenge'],
    requireChallengeAck: argv['require-challenge-ack'],
    instances,
    disconnectedTargets: argv['connection-lost'] ?? [],
    link: linkOptions(argv['latency-ms'], argv['jitter-ms'], argv.bandwidth),
  });
  process.stdout.write(`${simulator.endpoint}\n`);
  const trust = simulator.caFile ? `AWS_CA_BUNDLE=${simulator.caFile} ` : '';
  process.stderr.write(
    `SSM simulator listening${simulator.httpsEndpoint ? ` (HTTPS too, on ${simulator.httpsEndpoint}; its CA: ${simulator.caFile})` : ''}. Try:\n` +
      `  AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret ${trust}aws ssm start-session ` +
      `--region us-east-1 --endpoint-url ${simulator.httpsEndpoint ?? simulator.endpoint} --target i-0123456789abcdef0\n` +
      `Managed instances (aws ssm describe-instance-information):\n` +
      simulator.instances
        .list()
        .map((i) => `  ${i.id.padEnd(20)} ${i.pingStatus.padEnd(14)} ${formatTags(i.tags)}\n`)
        .join(''),
  );
  const shutdown = (): void => {
    void simulator.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

/** The --latency-ms, --jitter-ms and --bandwidth switches as per-direction link shapes. */
function linkOptions(
  latency: string | undefined,
  jitter: string | undefined,
  bandwidth: string | undefined,
): Record<Direction, Partial<LinkShape>> {
  const link: Record<Direction, Partial<LinkShape>> = { toAgent: {}, toClient: {} };
  const set = (text: string | undefined, flag: string, key: keyof LinkShape): void => {
    if (text === undefined) return;
    const [up, down = up] = perDirection(text, flag);
    link.toAgent[key] = up;
    link.toClient[key] = down;
  };
  set(latency, '--latency-ms', 'latencyMs');
  set(jitter, '--jitter-ms', 'jitterMs');
  set(bandwidth, '--bandwidth', 'bytesPerSecond');
  return link;
}

/** "N" or "UP,DOWN", each a non-negative number. */
function perDirection(text: string, flag: string): [number, number?] {
  const parts = text.split(',');
  const values = parts.map((part) => Number(part.trim()));
  if (parts.length > 2 || values.some((v) => !Number.isFinite(v) || v < 0) || parts.some((p) => p.trim() === '')) {
    throw new Error(`${flag} takes N or UP,DOWN (non-negative numbers), not ${JSON.stringify(text)}`);
  }
  return values.length === 2 ? [values[0] as number, values[1] as number] : [values[0] as number];
}

function formatTags(tags: Readonly<Record<string, string>>): string {
  return Object.entries(tags)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

main().catch((error: unknown) => {
  process.stderr.write(`ssm-simulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
