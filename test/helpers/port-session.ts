// Port sessions for end-to-end tests: StartSession against the simulator through the
// real SDK, the built plugin started the way the AWS CLI starts it (response in
// AWS_SSM_START_SESSION_RESPONSE), and what the simulator saw on the wire.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SSMClient, StartSessionCommand } from '@aws-sdk/client-ssm';
import { FlagCode } from '../../src/protocol/constants.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { PLUGIN_BINARY, REGION, type Sandbox } from './aws-cli-sandbox.ts';
import { descendants, killAll } from './processes.ts';
import { printable, waitFor } from './wait.ts';

export const TARGET = 'i-0123456789abcdef0';
export const ENV_NAME = 'AWS_SSM_START_SESSION_RESPONSE';

export interface StartResponse {
  SessionId: string;
  TokenValue: string;
  StreamUrl: string;
}

export interface SessionRequest {
  Target: string;
  DocumentName: string;
  Parameters: Record<string, string[]>;
}

export function portRequest(document: string, parameters: Record<string, string>): SessionRequest {
  const list: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(parameters)) list[key] = [value];
  return { Target: TARGET, DocumentName: document, Parameters: list };
}

/** StartSession through the real SDK against the simulator (by default a shell on TARGET). */
export async function sdkStartSession(sim: Simulator, request: Partial<SessionRequest> = {}): Promise<StartResponse> {
  const client = new SSMClient({
    region: REGION,
    endpoint: sim.endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  try {
    const out = await client.send(new StartSessionCommand({ ...request, Target: request.Target ?? TARGET }));
    if (!out.SessionId || !out.TokenValue || !out.StreamUrl) throw new Error('incomplete StartSession response');
    return { SessionId: out.SessionId, TokenValue: out.TokenValue, StreamUrl: out.StreamUrl };
  } finally {
    client.destroy();
  }
}

export interface PluginProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  readonly exited: boolean;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a pattern on stdout; fails early if the process exits. */
  waitStdout(pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Everything the process printed, for failure messages. */
  describe(): string;
  kill(): void;
}

/**
 * Starts a process with piped stdio, in its own process group (so a terminal Ctrl-C can
 * be imitated with a SIGINT to the group), killed with its descendants at the deadline.
 */
export function startProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): PluginProcess {
  const child = spawn(command, args, { env, stdio: 'pipe', detached: true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let exited = false;
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin.on('error', () => undefined);
  const killTree = (): void => {
    if (child.pid === undefined) return;
    killAll([child.pid, ...descendants(child.pid)]);
  };
  const timer = setTimeout(killTree, timeoutMs);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      err.push(Buffer.from(`spawn error: ${error.message}\n`));
      exited = true;
      clearTimeout(timer);
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  const stdout = () => Buffer.concat(out).toString('utf8');
  const stderr = () => Buffer.concat(err).toString('utf8');
  const describe = () => `--- stdout ---\n${printable(stdout())}\n--- stderr ---\n${printable(stderr())}`;
  return {
    child,
    pid: child.pid ?? -1,
    stdout,
    stderr,
    get exited() {
      return exited;
    },
    exit,
    describe,
    waitStdout: (pattern, what, timeoutMs = 15_000) =>
      waitFor(() => pattern.exec(stdout()), {
        what,
        timeoutMs,
        context: describe,
        abort: () => (exited ? 'the process exited' : undefined),
      }),
    kill: () => {
      if (!exited) killTree();
    },
  };
}

/** The built plugin, started with the response in the environment (as AWS CLI v1 does). */
export function startPlugin(
  sandbox: Sandbox,
  sim: Simulator,
  request: SessionRequest,
  response: StartResponse,
  options: { timeoutMs?: number; extraEnv?: Record<string, string> } = {},
): PluginProcess {
  const env = sandbox.env({ [ENV_NAME]: JSON.stringify(response), ...options.extraEnv });
  return startProcess(
    PLUGIN_BINARY,
    [ENV_NAME, REGION, 'StartSession', '', JSON.stringify(request), sim.endpoint],
    env,
    options.timeoutMs ?? 60_000,
  );
}

export function terminateCalls(sim: Simulator, sessionId: string): number {
  return sim.apiCalls.filter(
    (c) => c.operation === 'TerminateSession' && (c.body as { SessionId?: string } | undefined)?.SessionId === sessionId,
  ).length;
}

export { FlagCode };

/** Listening TCP sockets of this network namespace on `port`, by family. */
export function listeningOn(port: number): { v4: string[]; v6: string[] } {
  const read = (file: string): string[] => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const [address, portHex] = (fields[1] ?? '').split(':');
      if (parseInt(portHex ?? '', 16) === port && fields[3] === '0A') out.push(address ?? '');
    }
    return out;
  };
  return { v4: read('/proc/net/tcp'), v6: read('/proc/net/tcp6') };
}
