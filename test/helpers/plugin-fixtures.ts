// Fixtures of the end-to-end tests that run the built plugin against the simulator: the
// binary check, a simulator and a sandbox torn down with the test, a port session with a
// transfer server behind it, and the plugin's reconnect notices.
import type t from 'tap';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.ts';
import { createSandbox, PLUGIN_BINARY, REGION, ROOT, type Sandbox } from './aws-cli-sandbox.ts';
import {
  sdkStartSession,
  startPlugin,
  startTransferServer,
  waitForLocalPort,
  type StartResponse,
  type TransferServer,
} from './plugin-runs.ts';
import { startPty, type PtyRun, type Running } from './processes.ts';
import { RESPONSE_ENV, TARGET } from './plugin-runs.ts';

export type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

/** Fails the test (and returns false) when the built binary is missing. */
export function requireBinary(t: TestContext): boolean {
  if (existsSync(PLUGIN_BINARY)) return true;
  t.fail(`${path.relative(ROOT, PLUGIN_BINARY)} is missing: run \`npm run build\` first`);
  return false;
}

export async function withSimulator(t: TestContext, options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options);
  t.teardown(() => sim.close());
  return sim;
}

export function withSandbox(t: TestContext): Sandbox {
  const sandbox = createSandbox();
  t.teardown(() => sandbox.remove());
  return sandbox;
}

export interface PortTransferSession {
  sim: Simulator;
  sandbox: Sandbox;
  server: TransferServer;
  response: StartResponse;
  run: Running;
  localPort: number;
}

/**
 * A simulator (pacing off, no frame log), a transfer server offering `downloadBytes`, an
 * AWS-StartPortForwardingSession to it and the built plugin listening on an ephemeral
 * local port (85 s limit); all torn down with `t`.
 */
export async function portTransferSession(t: TestContext, downloadBytes: number): Promise<PortTransferSession> {
  const sim = await withSimulator(t, { pacing: false, shellDelayMs: 50, frameLogLimit: 0 });
  const sandbox = withSandbox(t);
  const server = await startTransferServer(downloadBytes);
  t.teardown(() => server.close());
  const response = await sdkStartSession(sim, {
    DocumentName: 'AWS-StartPortForwardingSession',
    Parameters: { portNumber: [String(server.port)], localPortNumber: ['0'] },
  });
  const run = startPlugin(sim, sandbox, response, { timeoutMs: 85_000 });
  t.teardown(() => run.kill());
  const localPort = await waitForLocalPort(run);
  return { sim, sandbox, server, response, run, localPort };
}

/** The plugin's stderr notices when a connection is lost and when it is back. */
export const LOST_NOTICE = /^Connection to the session lost; re-establishing it\.\.\.$/gm;
export const BACK_NOTICE = /^Connection re-established\.$/gm;

/** How many of each reconnect notice `stderr` holds (undefined where none, as String.match gives). */
export function reconnectNotices(stderr: string): { lost: number | undefined; back: number | undefined } {
  return { lost: stderr.match(LOST_NOTICE)?.length, back: stderr.match(BACK_NOTICE)?.length };
}

/**
 * The built plugin in a real pty (100x30), run by `/bin/sh -c script` where `"$0" "$@"` is
 * the plugin with its arguments, as the AWS CLI starts it (the response in the
 * environment); killed with the test.
 */
export function pluginInPty(t: TestContext, sim: Simulator, sandbox: Sandbox, response: StartResponse, script: string): PtyRun {
  const args = [RESPONSE_ENV, REGION, 'StartSession', '', JSON.stringify({ Target: TARGET }), sim.endpoint];
  return startPty(t, '/bin/sh', ['-c', script, PLUGIN_BINARY, ...args], {
    cols: 100,
    rows: 30,
    cwd: sandbox.dir,
    env: sandbox.env({ [RESPONSE_ENV]: JSON.stringify(response) }),
  });
}
