// What `npm run release` left in dist/release, for the release smoke tests
// (test/release/*.smoke.ts, run by `npm run release:smoke`), and the port-forwarding
// transfer they all run through a release binary.
import type t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Report } from '../../scripts/release/report.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { ROOT } from './aws-cli-sandbox.ts';
import { runTransfer, startTransferServer, type TransferServer } from './plugin-runs.ts';
import { sdkStartSession, TARGET } from './port-session.ts';

export type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

export const RELEASE_DIR = path.join(ROOT, 'dist', 'release');

/** The release's report.json; fails the test (undefined) when there is no release. */
export function releaseReport(t: TestContext): Report | undefined {
  const file = path.join(RELEASE_DIR, 'report.json');
  if (!existsSync(file)) {
    t.fail('dist/release/report.json is missing: run `npm run release` first');
    return undefined;
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Report;
}

/** Absolute path of a target's binary (session-manager-plugin[.exe]); fails the test when it was not built. */
export function releaseBinary(t: TestContext, report: Report, id: string): string | undefined {
  const target = report.targets.find((entry) => entry.id === id);
  if (!target) {
    t.fail(`the release has no ${id} binary: run \`npm run release\` for all targets`);
    return undefined;
  }
  return path.join(RELEASE_DIR, target.binary);
}

/** The one release file whose name matches `pattern`, as an absolute path. */
export function releaseFile(report: Report, pattern: RegExp): string {
  const matches = report.artifacts.filter((a) => pattern.test(a.file));
  if (matches.length !== 1) throw new Error(`${matches.length} release files match ${pattern}`);
  return path.join(RELEASE_DIR, matches[0]!.file);
}

/** An AWS-StartPortForwardingSession to a transfer server offering `size` bytes, torn down with `t`. */
export async function forwardingSession(t: TestContext, sim: Simulator, size: number) {
  const server = await startTransferServer(size);
  t.teardown(() => server.close());
  const request = {
    Target: TARGET,
    DocumentName: 'AWS-StartPortForwardingSession',
    Parameters: { portNumber: [String(server.port)], localPortNumber: ['0'] },
  };
  return { server, request, response: await sdkStartSession(sim, request) };
}

/** Sends and receives `size` bytes through the local port and checks both ways by SHA-256. */
export async function checkTransfer(t: TestContext, server: TransferServer, localPort: number, size: number, where: string): Promise<void> {
  const upload = randomBytes(size);
  const result = await runTransfer(localPort, upload, size);
  const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
  t.equal(result.uploadDigestAtDestination, sha256(upload), `${size} bytes up, intact`);
  t.equal(result.downloadDigest, sha256(server.downloadBytes(size)), `${size} bytes down, intact`);
  t.comment(`2 x ${size / 1024 / 1024} MiB in ${result.durationMs.toFixed(0)} ms ${where}`);
}
