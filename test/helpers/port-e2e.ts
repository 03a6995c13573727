// Shared pieces of the port-forwarding end-to-end tests: the simulator (pacing off), a
// destination server, a sandbox, the plugin started directly or by the real AWS CLI, and
// the checks every transfer gets (SHA-256 both ways, no extra bytes).
import type t from 'tap';
import net from 'node:net';
import path from 'node:path';
import { MessageType, PayloadType } from '../../src/protocol/constants.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.ts';
import { awsClis, createSandbox, findOnPath, REGION, requireAwsCli, type AwsCli, type Sandbox } from './aws-cli-sandbox.ts';
import { commandLine, descendants } from './processes.ts';
import { sdkStartSession, startPlugin, startProcess, type PluginProcess, type SessionRequest } from './port-session.ts';
import { startDestination, type Destination, type TransferResult } from './port-traffic.ts';
import { waitFor } from './wait.ts';
import { requireBinary } from './plugin-fixtures.ts';

export type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

export const AWS = findOnPath('aws');
export const MiB = 1024 * 1024;
export const BASIC_AGENT = '3.0.196.0';
export const FORWARD = 'AWS-StartPortForwardingSession';
export const FORWARD_REMOTE = 'AWS-StartPortForwardingSessionToRemoteHost';

/** Checked by every test group, so a missing build or CLI fails loudly rather than skipping. */
export function prerequisites(t: TestContext, needs: { aws: boolean | AwsCli }): boolean {
  if (!requireBinary(t)) return false;
  if (needs.aws === true && !AWS) {
    t.fail('the AWS CLI (`aws`) is not on PATH; these tests need AWS CLI v1');
    return false;
  }
  return typeof needs.aws === 'boolean' || requireAwsCli(t, needs.aws) !== undefined;
}

export interface Setup {
  sim: Simulator;
  sandbox: Sandbox;
  dest: Destination;
  /** Flag codes the agent received from the client, per session, in order. */
  flags(sessionId: string): number[];
}

export async function setup(t: TestContext, options: SimulatorOptions = {}): Promise<Setup> {
  const sim = await startSimulator({ pacing: false, frameLogLimit: 0, tls: true, ...options });
  const dest = await startDestination();
  const sandbox = createSandbox();
  const seen = new Map<string, Map<number, number>>();
  // Every client → agent Flag frame, as the agent received it (the bounded wire log may
  // have rolled over after a large transfer).
  const stop = sim.observe((direction, bytes, sessionId) => {
    if (direction !== 'toAgent' || bytes.length !== 124 || bytes.readUInt32BE(112) !== PayloadType.Flag) return;
    if (bytes.toString('latin1', 4, 36).trim() !== MessageType.InputStreamData) return;
    const perSession = seen.get(sessionId) ?? new Map<number, number>();
    perSession.set(Number(bytes.readBigInt64BE(48)), bytes.readUInt32BE(120));
    seen.set(sessionId, perSession);
  });
  t.teardown(async () => {
    stop();
    await dest.close();
    await sim.close();
    sandbox.remove();
  });
  return {
    sim,
    sandbox,
    dest,
    flags: (sessionId) => [...(seen.get(sessionId) ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]),
  };
}

/** Starts the built plugin for a port session (the env-var path of AWS CLI v1). */
export async function directSession(t: TestContext, s: Setup, request: SessionRequest) {
  const response = await sdkStartSession(s.sim, request);
  const plugin = startPlugin(s.sandbox, s.sim, request, response);
  t.teardown(() => plugin.kill());
  return { sessionId: response.SessionId, plugin };
}

/**
 * `aws ssm start-session` (v1 unless `cli` says otherwise) with our binary first on PATH,
 * over HTTPS and wss://; the plugin is its child.
 */
export async function awsCliSession(t: TestContext, s: Setup, document: string, parameters: string, cli: AwsCli = awsClis()[0]!) {
  const aws = startProcess(
    cli.path ?? AWS!,
    ['ssm', 'start-session', '--target', 'i-0123456789abcdef0', '--document-name', document, '--parameters', parameters, '--endpoint-url', s.sim.httpsEndpoint!, '--region', REGION],
    s.sandbox.env(),
    60_000,
  );
  t.teardown(() => aws.kill());
  const sessionId = (await aws.waitStdout(/\nStarting session with SessionId: (\S+)\n/, 'the start banner', 20_000))[1]!;
  const pluginPid = await waitFor(
    () =>
      descendants(aws.pid).find((pid) => {
        const argv = commandLine(pid);
        return argv !== undefined && path.basename(argv[0] ?? '') === 'session-manager-plugin' && argv[1] !== '--version';
      }),
    { what: 'the plugin process under aws', timeoutMs: 10_000, context: aws.describe },
  );
  return { sessionId, aws, pluginPid };
}

export async function openedPort(plugin: PluginProcess): Promise<number> {
  return Number((await plugin.waitStdout(/Port (\d+) opened for sessionId /, 'the "Port N opened" message'))[1]);
}

export function checkTransfer(t: TestContext, dest: Destination, seed: number, result: TransferResult, label: string): void {
  const record = dest.records.find((r) => r.seed === seed);
  t.ok(record, `${label}: the destination saw the connection`);
  t.equal(record?.error, undefined, `${label}: no error at the destination`);
  t.equal(result.echoedUploadDigest, result.uploadDigest, `${label}: upload SHA-256 at the destination equals what was sent`);
  t.equal(result.downloadDigest, record?.downloadDigest, `${label}: download SHA-256 equals what the destination sent`);
  t.equal(result.extraBytes, 0, `${label}: no extra bytes`);
}

/** Waits for the process to exit; a hang fails the test instead of waiting for the deadline. */
export async function exitOf(t: TestContext, p: PluginProcess, timeoutMs = 10_000) {
  await waitFor(() => p.exited, { what: 'the process to exit', timeoutMs, context: p.describe });
  return p.exit;
}

export function connectRefused(options: net.NetConnectOpts): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(options);
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

export const exitText = (id: string) => `Terminate signal received, exiting.\n\n\nExiting session with sessionId: ${id}.\n\n`;

