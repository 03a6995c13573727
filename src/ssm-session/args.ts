import yargs from 'yargs';
import { UsageError } from './errors.ts';
import type { InstanceFilter } from '../client/instances.ts';
import { copyDirection, parseSize } from './copy-spec.ts';
import { parseLocalForward, parseSocks, type LocalForwardSpec, type SocksSpec } from './forward-spec.ts';
import { parseListFilters } from './list-filter.ts';

/** Where and how to reach AWS; empty fields mean the SDK's defaults (environment, config files). */
export interface AwsSettings {
  region?: string;
  profile?: string;
  /** SSM endpoint (`--endpoint-url`, else AWS_ENDPOINT_URL_SSM). */
  endpoint?: string;
  /** ECS endpoint for ecs: targets (`--ecs-endpoint-url`, else AWS_ENDPOINT_URL_ECS). */
  ecsEndpoint?: string;
  /** EC2 endpoint for instance tags in `list` and the picker (`--ec2-endpoint-url`, else AWS_ENDPOINT_URL_EC2). */
  ec2Endpoint?: string;
}

export interface GlobalOptions {
  aws: AwsSettings;
  /** Periodic status lines even when stderr is not a terminal; a summary at the end of a session. */
  stats: boolean;
  quiet: boolean;
}

/** A target left out (undefined) is picked from a list in a terminal. */
export type Command =
  | { kind: 'output'; text: string }
  | { kind: 'shell'; global: GlobalOptions; target: string | undefined; ecsShell?: string }
  | { kind: 'run'; global: GlobalOptions; target: string; command: string }
  | {
      kind: 'forward';
      global: GlobalOptions;
      target: string | undefined;
      locals: LocalForwardSpec[];
      socks: SocksSpec[];
      pool: number;
      /** How long a pooled session without connections is kept (undefined: the library's default). */
      idleTimeoutMs?: number;
    }
  | { kind: 'ssh-proxy'; global: GlobalOptions; host: string; port: number }
  | {
      kind: 'cp';
      global: GlobalOptions;
      direction: 'download' | 'upload';
      target: string | undefined;
      remotePath: string;
      localPath: string;
      pool: number;
      rangeSize?: number;
      resume: boolean;
    }
  | { kind: 'list'; global: GlobalOptions; filters: InstanceFilter[]; json: boolean };

/** Sessions a forward may open at once unless `--pool` says otherwise. */
export const DEFAULT_POOL = 8;

const EPILOG = `TARGET is an instance id (i-..., mi-...), Name=VALUE (the Name tag), tag:KEY=VALUE, or
ecs:CLUSTER/TASK[/CONTAINER]. Credentials come from the usual AWS chain (environment,
profile, SSO, instance role).`;

/**
 * Parses argv (without node and the script) into a command. Help and version come back
 * as `output`; mistakes throw UsageError. Nothing is printed and nothing exits here.
 */
export async function parseArgs(args: readonly string[], env: NodeJS.ProcessEnv, version: string): Promise<Command> {
  const parser = yargs([...args])
    .scriptName('ssm-session')
    .usage('$0 <command> [options]\n\nAWS Session Manager sessions without the AWS CLI.')
    .parserConfiguration({ 'populate--': true, 'duplicate-arguments-array': true, 'strip-aliased': true })
    .option('region', { type: 'string', describe: 'AWS region (default: AWS_REGION, the profile, ...)', global: true })
    .option('profile', { type: 'string', describe: 'AWS profile (default: AWS_PROFILE or default)', global: true })
    .option('endpoint-url', { type: 'string', describe: 'SSM API endpoint (default: AWS_ENDPOINT_URL_SSM, else regional)', global: true })
    .option('ecs-endpoint-url', { type: 'string', describe: 'ECS API endpoint for ecs: targets (default: AWS_ENDPOINT_URL_ECS)', global: true })
    .option('ec2-endpoint-url', { type: 'string', describe: 'EC2 API endpoint for instance tags (default: AWS_ENDPOINT_URL_EC2)', global: true })
    .option('stats', { type: 'boolean', describe: 'status lines even when stderr is not a terminal', global: true })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no messages apart from errors', global: true })
    .command('shell [target]', 'interactive shell on the target (no target: pick one)', (y) =>
      y.option('ecs-shell', { type: 'string', describe: 'shell to start in an ECS container (default /bin/sh)', requiresArg: true }),
    )
    .command('run <target> [command..]', 'run a command (after --) and exit with its status')
    .command('forward [target]', 'local port forwards (-L) and SOCKS5 proxies (-D)', (y) =>
      y
        .option('L', { type: 'string', array: true, describe: '[BIND:]LOCAL:HOST:PORT (HOST localhost = the target itself)', requiresArg: true })
        .option('D', { type: 'string', array: true, describe: '[BIND:]PORT: SOCKS5 proxy, CONNECTs go to hosts behind the target', requiresArg: true })
        .option('pool', { type: 'number', describe: `at most N sessions per -L or per -D destination (default ${DEFAULT_POOL})`, requiresArg: true })
        .option('idle-timeout', { type: 'number', describe: 'seconds a session without connections is kept for the next one (default 5)', requiresArg: true }),
    )
    .command('ssh-proxy <host> <port>', 'ssh ProxyCommand: ProxyCommand ssm-session ssh-proxy %h %p')
    .command('cp <source> <destination>', 'copy a file: cp FILE TARGET:PATH, cp TARGET:PATH FILE', (y) =>
      y
        .option('pool', { type: 'number', describe: `sessions at once, a range each (default ${DEFAULT_POOL})`, requiresArg: true })
        .option('range-size', { type: 'string', describe: 'bytes per range, e.g. 8M (default: size/pool, 1M-16M)', requiresArg: true })
        .option('resume', { type: 'boolean', describe: 'go on from an interrupted copy (default; --no-resume)' })
        .option('recursive', { alias: 'r', type: 'boolean', describe: 'not supported: cp copies single files' }),
    )
    .command('list', 'managed instances with their Name tags', (y) =>
      y
        .option('filter', { type: 'string', array: true, describe: 'tag:KEY=VALUE, tag-key=KEY, PingStatus=Online, PlatformTypes=Linux, ...', requiresArg: true })
        .option('json', { type: 'boolean', describe: 'JSON instead of a table' }),
    )
    .demandCommand(1, 'a command is required (shell, run, forward, cp, list, ssh-proxy)')
    .epilog(EPILOG)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .strict()
    .help()
    .alias('help', 'h')
    .version(version)
    .exitProcess(false);

  const { argv, output, error } = await new Promise<{ argv: Record<string, unknown>; output: string; error: Error | undefined }>(
    (resolve) => {
      void parser.parse([...args], {}, (err: Error | undefined, parsed: Record<string, unknown>, text: string) =>
        resolve({ argv: parsed, output: text, error: err ?? undefined }),
      );
    },
  );
  if (error) throw new UsageError(error.message);
  if (argv.help || argv.version) return { kind: 'output', text: output };
  return toCommand(argv, env);
}

function toCommand(argv: Record<string, unknown>, env: NodeJS.ProcessEnv): Command {
  const global: GlobalOptions = {
    aws: {
      region: nonEmpty(argv.region),
      profile: nonEmpty(argv.profile),
      endpoint: nonEmpty(argv['endpoint-url']) ?? nonEmpty(env.AWS_ENDPOINT_URL_SSM),
      ecsEndpoint: nonEmpty(argv['ecs-endpoint-url']) ?? nonEmpty(env.AWS_ENDPOINT_URL_ECS),
      ec2Endpoint: nonEmpty(argv['ec2-endpoint-url']) ?? nonEmpty(env.AWS_ENDPOINT_URL_EC2),
    },
    stats: argv.stats === true,
    quiet: argv.quiet === true,
  };
  const [name] = argv._ as unknown[];
  switch (name) {
    case 'shell':
      const ecsShell = nonEmpty(argv['ecs-shell']);
      return { kind: 'shell', global, target: optionalTarget(argv.target), ...(ecsShell ? { ecsShell } : {}) };
    case 'run': {
      const words = [...strings(argv.command), ...strings(argv['--'])];
      if (words.length === 0) throw new UsageError('run: give the command after --, e.g. ssm-session run i-0123 -- uname -a');
      // Like ssh: the words are joined with spaces and the remote shell parses them.
      return { kind: 'run', global, target: target(argv.target), command: words.join(' ') };
    }
    case 'forward': {
      const locals = strings(argv.L).map(parseLocalForward);
      const socks = strings(argv.D).map(parseSocks);
      if (locals.length + socks.length === 0) throw new UsageError('forward: give at least one -L or -D');
      if (strings(argv['--']).length > 0) throw new UsageError('forward: unexpected arguments after --');
      const pool = poolOption(argv.pool);
      let idleTimeoutMs: number | undefined;
      if (argv['idle-timeout'] !== undefined) {
        const seconds = Number(argv['idle-timeout']);
        if (!Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) throw new UsageError('--idle-timeout: seconds, from 0 to 86400');
        idleTimeoutMs = Math.round(seconds * 1000);
      }
      return { kind: 'forward', global, target: optionalTarget(argv.target), locals, socks, pool, ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }) };
    }
    case 'ssh-proxy': {
      const port = Number(argv.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`ssh-proxy: "${String(argv.port)}" is not a port number`);
      return { kind: 'ssh-proxy', global, host: target(argv.host), port };
    }
    case 'cp': {
      if (argv.recursive) {
        throw new UsageError('cp: -r is not supported, cp copies single files; copy a directory as an archive (ssm-session run TARGET -- tar czf /tmp/dir.tgz DIR)');
      }
      if (strings(argv['--']).length > 0) throw new UsageError('cp: unexpected arguments after --');
      const copy = copyDirection(String(argv.source ?? ''), String(argv.destination ?? ''));
      const rangeSize = argv['range-size'] === undefined ? undefined : parseSize(String(argv['range-size']), '--range-size');
      return { kind: 'cp', global, ...copy, pool: poolOption(argv.pool), ...(rangeSize === undefined ? {} : { rangeSize }), resume: argv.resume !== false };
    }
    case 'list':
      return { kind: 'list', global, filters: parseListFilters(strings(argv.filter)), json: argv.json === true };
    default:
      throw new UsageError(`unknown command "${String(name)}" (shell, run, forward, cp, list, ssh-proxy)`);
  }
}

function poolOption(value: unknown): number {
  const pool = value === undefined ? DEFAULT_POOL : Number(value);
  if (!Number.isInteger(pool) || pool < 1 || pool > 256) throw new UsageError('--pool: a whole number from 1 to 256');
  return pool;
}

/** A target given, or undefined for the picker. */
function optionalTarget(value: unknown): string | undefined {
  return value === undefined ? undefined : target(value);
}

function target(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : String(value ?? '');
  if (text === '') throw new UsageError('the target is empty');
  return text;
}

function strings(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
