// Running `ssm-session` as a real process against the simulator in end-to-end tests: the
// built single executable (as users run it; from source only where a test says so), in a
// sandbox environment whose SSM and ECS endpoints are the simulator's, over HTTPS when the
// simulator speaks it (the sandbox trusts its CA through AWS_CA_BUNDLE).
import type t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Simulator } from '../../src/simulator/index.ts';
import { ROOT, type Sandbox } from './aws-cli-sandbox.ts';
import { startProcess, type PluginProcess } from './port-session.ts';
import { printable } from './wait.ts';

export type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

export const SSM_SESSION_MAIN = path.join(ROOT, 'src', 'ssm-session', 'main.ts');
export const SSM_SESSION_BINARY = path.join(ROOT, 'dist', 'ssm-session');

/** argv[0] and the leading arguments that run the CLI from source with this test's Node 24. */
export function sourceCommand(): [string, string[]] {
  return [process.execPath, ['--disable-warning=ExperimentalWarning', SSM_SESSION_MAIN]];
}

/** argv[0] and the leading arguments that run the built single executable (checked to exist). */
export function cliCommand(): [string, string[]] {
  if (!existsSync(SSM_SESSION_BINARY)) throw new Error(`${SSM_SESSION_BINARY} is missing: run \`npm run build\` first`);
  return [SSM_SESSION_BINARY, []];
}

/**
 * The sandbox environment with the simulator as SSM and ECS endpoint (AWS_ENDPOINT_URL_*):
 * its HTTPS side when it has one.
 */
export function cliEnv(sandbox: Sandbox, sim: Simulator, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const endpoint = sim.httpsEndpoint ?? sim.endpoint;
  return sandbox.env({ AWS_ENDPOINT_URL_SSM: endpoint, AWS_ENDPOINT_URL_ECS: endpoint, ...extra });
}

/** A shell-quoted command line running the CLI from source (for ssh's ProxyCommand). */
export function sourceCommandLine(): string {
  const [node, args] = sourceCommand();
  return quoteWords([node, ...args]);
}

/** A shell-quoted command line running the built CLI (for ssh's ProxyCommand). */
export function cliCommandLine(): string {
  const [binary, args] = cliCommand();
  return quoteWords([binary, ...args]);
}

function quoteWords(words: string[]): string {
  return words.map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** Starts the built CLI with piped stdio; killed with the test. */
export function startCli(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): PluginProcess {
  const [binary, prefix] = cliCommand();
  const cli = startProcess(binary, [...prefix, ...args], env, timeoutMs);
  t.teardown(() => cli.kill());
  return cli;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  stderrBytes: Buffer;
  /** Everything, for failure messages. */
  describe: string;
}

/** Runs the built CLI to its end, stdin closed (or given `input`). */
export async function runCli(
  t: TestContext,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { input?: Buffer | string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const cli = startCli(t, args, env, options.timeoutMs ?? 45_000);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  cli.child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  cli.child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  cli.child.stdin.end(options.input);
  const exit = await cli.exit;
  const stdout = Buffer.concat(out);
  return {
    ...exit,
    stdout,
    stderr: cli.stderr(),
    stderrBytes: Buffer.concat(err),
    describe: `args ${JSON.stringify(args)}\nexit ${JSON.stringify(exit)}\n--- stdout ---\n${printable(stdout.toString('utf8'))}\n--- stderr ---\n${printable(cli.stderr())}`,
  };
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** StartSession calls the simulator received, in order: target, document and parameters. */
export function startedSessions(sim: Simulator): Array<{ target: unknown; document: unknown; parameters: unknown }> {
  return sim.apiCalls
    .filter((call) => call.operation === 'StartSession')
    .map((call) => {
      const body = (call.body ?? {}) as { Target?: unknown; DocumentName?: unknown; Parameters?: unknown };
      return { target: body.Target, document: body.DocumentName, parameters: body.Parameters };
    });
}

/** A port on 127.0.0.1 that nothing listens on (just now). */
export async function unusedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
