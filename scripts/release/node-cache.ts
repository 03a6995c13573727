// The official Node binaries the release builds on, fetched once from the npm registry with
// npm itself (`npm pack`, so npm's proxy and registry settings apply), checked against the
// integrity pinned in targets.ts and kept, extracted, in a cache outside the checkout:
// $SSM_RELEASE_CACHE, else $XDG_CACHE_HOME/session-manager-plugin-ts, else
// ~/.cache/session-manager-plugin-ts. A second release needs no network.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { NODE_VERSION, type Target } from './targets.ts';
import { ReleaseError, requireTool, run } from './run.ts';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SSM_RELEASE_CACHE) return env.SSM_RELEASE_CACHE;
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'session-manager-plugin-ts');
}

/** Path of the official Node binary for `target`, downloading it on first use. */
export async function nodeBinary(target: Target, log: (line: string) => void): Promise<string> {
  const dir = path.join(cacheRoot(), `node-v${NODE_VERSION}-${target.id}`);
  const binary = path.join(dir, `node${target.suffix}`);
  if (existsSync(binary)) return binary;

  const root = cacheRoot();
  await mkdir(root, { recursive: true });
  const work = await mkdtemp(path.join(root, '.download-'));
  try {
    const spec = `${target.node.package}@${NODE_VERSION}`;
    log(`fetching ${spec} from the npm registry`);
    run(requireTool('npm', 'npm'), ['pack', spec, '--pack-destination', work, '--silent'], { cwd: work });
    const tarball = (await readdir(work)).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new ReleaseError(`npm pack ${spec} wrote no tarball`);
    const integrity = `sha512-${await digest(path.join(work, tarball), 'sha512', 'base64')}`;
    if (integrity !== target.node.integrity) {
      throw new ReleaseError(`${spec}: integrity ${integrity} is not the pinned ${target.node.integrity}`);
    }
    run(requireTool('tar', 'tar'), ['-xzf', tarball, target.node.path], { cwd: work });
    const extracted = path.join(work, target.node.path);
    await chmod(extracted, 0o755);
    const staged = path.join(work, 'out');
    await mkdir(staged);
    await rename(extracted, path.join(staged, path.basename(binary)));
    await rm(dir, { recursive: true, force: true });
    await rename(staged, dir);
    return binary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Digest of a file, streamed. */
export function digest(file: string, algorithm: 'sha256' | 'sha512', encoding: 'hex' | 'base64' = 'hex'): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash(algorithm);
    createReadStream(file)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest(encoding)));
  });
}
