// The library tests' world: AWS settings that reach only the simulator (fake credentials,
// no instance metadata, no shared config files), a simulator per test, and its target.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.ts';
import type { AwsOptions } from '../../src/client/index.ts';

/** Any well-formed instance id is a target in the simulator. */
export const TARGET = 'i-0123456789abcdef0';
export const MiB = 1024 * 1024;

let envReady = false;

/** Points the in-process AWS SDK at nothing but what the tests pass explicitly. */
export function useTestAwsEnvironment(): void {
  if (envReady) return;
  envReady = true;
  const dir = mkdtempSync(path.join(tmpdir(), 'client-test-aws-'));
  const empty = path.join(dir, 'empty');
  writeFileSync(empty, '');
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: empty,
    AWS_SHARED_CREDENTIALS_FILE: empty,
    NO_PROXY: '127.0.0.1,localhost,::1',
    no_proxy: '127.0.0.1,localhost,::1',
  });
  delete process.env.AWS_PROFILE;
  delete process.env.HTTPS_PROXY;
  delete process.env.https_proxy;
  delete process.env.HTTP_PROXY;
  delete process.env.http_proxy;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A simulator for one test, closed at its end, and the AWS options that reach it. */
export async function simulatorFor(t: Teardown, options: SimulatorOptions = {}): Promise<{ sim: Simulator; aws: AwsOptions }> {
  useTestAwsEnvironment();
  const sim = await startSimulator(options);
  t.teardown(() => sim.close());
  return { sim, aws: { endpoint: sim.endpoint, region: 'us-east-1' } };
}
