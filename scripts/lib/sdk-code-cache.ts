// Makes the V8 code cache for the SDK asset. A code cache is only accepted by the very Node
// build that made it, so this runs in the Node of the binary it is for: imported by
// scripts/build.mjs (whose Node is the dev binary's), or run by the release's host Node as
//   node scripts/lib/sdk-code-cache.ts SDK_FILE CACHE_FILE
// The cache is taken after running each client's module code, so that it also holds the
// functions compiled on the way (V8 only caches compiled code). If V8 rejects it at run time
// (different flags or V8), the loader just compiles afresh.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compileSdkBundle } from '../../src/aws/load-sdk.ts';

export async function writeSdkCodeCache(sdkFile: string, cacheFile: string): Promise<void> {
  const code = await readFile(sdkFile, 'utf8');
  const { exports, script } = compileSdkBundle(code);
  for (const get of Object.values(exports)) get?.();
  await writeFile(cacheFile, script.createCachedData());
  // The cache must be accepted by this very Node, compiled the way the binary compiles it.
  const { cacheRejected } = compileSdkBundle(code, new Uint8Array(await readFile(cacheFile)));
  if (cacheRejected) throw new Error('V8 rejected the SDK code cache it has just made');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [sdkFile, cacheFile] = process.argv.slice(2);
  if (!sdkFile || !cacheFile) {
    process.stderr.write('usage: node scripts/lib/sdk-code-cache.ts SDK_FILE CACHE_FILE\n');
    process.exit(2);
  }
  await writeSdkCodeCache(sdkFile, cacheFile);
}
