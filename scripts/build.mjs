// Builds the plugin and `ssm-session` for development and tests (`npm run build`; needs Node
// 24+, which `npm run` takes from node_modules/.bin). `npm run release` (scripts/release/)
// builds the shipped binaries for every platform from the same pieces (scripts/lib/).
//
//   dist/main.cjs                    both programs (src/entry/main.ts), @aws-sdk/* left
//                                    external; the npm `bin` launchers run it with whatever
//                                    node is installed
//   dist/aws-sdk.cjs                 every @aws-sdk/client-* dependency in one CommonJS bundle,
//                                    loaded on first use by src/aws/load-sdk.ts
//   dist/aws-sdk.cache               V8 code cache for it (made by running it once, here)
//   dist/sea-config.json, dist/sea-prep.blob
//   dist/session-manager-plugin      the single executable: this Node binary + a blob (main
//                                    script = main.cjs, assets = the SDK files)
//   dist/ssm-session                 a hard link to it: the binary picks its program by name
//
// `--bundle-only` writes dist/main.cjs alone (what `npm pack` needs). Quiet on success apart
// from one summary line.

import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const started = performance.now();
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const rel = (p) => path.relative(process.cwd(), p) || '.';
const fromRoot = (p) => path.relative(root, p);

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeMajor < 24) {
  fail(
    `Node ${process.versions.node} cannot build the single executable (needs Node 24+).\n` +
      `Run it as \`npm run build\` (which uses node_modules/.bin/node, from the "node" devDependency) ` +
      `or \`node_modules/.bin/node scripts/build.mjs\`.`,
  );
}

const { buildBundles } = await import(pathToFileURL(path.join(root, 'scripts/lib/bundle.ts')).href);
const { writeSdkCodeCache } = await import(pathToFileURL(path.join(root, 'scripts/lib/sdk-code-cache.ts')).href);
const { SEA_FUSE, addProgramNames, seaConfig, settleInPageCache } = await import(pathToFileURL(path.join(root, 'scripts/lib/sea.ts')).href);
const { SDK_CACHE_ASSET } = await import(pathToFileURL(path.join(root, 'src/aws/load-sdk.ts')).href);

const bundleOnly = process.argv.includes('--bundle-only');
// Start of the placeholder blob in a cached template binary (see injectViaTemplate).
const TEMPLATE_MARKER = Buffer.from('session-manager-plugin: reserved space for the SEA blob\0');
const suffix = process.platform === 'win32' ? '.exe' : '';
const out = {
  sdkCache: path.join(dist, SDK_CACHE_ASSET),
  seaConfig: path.join(dist, 'sea-config.json'),
  blob: path.join(dist, 'sea-prep.blob'),
  exe: path.join(dist, `session-manager-plugin${suffix}`),
};
// What earlier layouts of dist/ held (one bundle, blob and binary per program).
const oldFiles = ['session-manager-plugin.cjs', 'ssm-session.cjs', 'session-manager-plugin.sea-config.json', 'ssm-session.sea-config.json', 'session-manager-plugin.sea-prep.blob', 'ssm-session.sea-prep.blob'].map((name) => path.join(dist, name));

await mkdir(dist, { recursive: true });
await Promise.all([...(bundleOnly ? [] : Object.values(out)), ...oldFiles].map((file) => rm(file, { force: true })));

let bundles;
try {
  bundles = await buildBundles(root, dist, { sdk: !bundleOnly });
} catch {
  fail('esbuild failed (see above)');
}
if (bundleOnly) {
  console.log(`built ${rel(bundles.main)} in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  process.exit(0);
}

await writeSdkCodeCache(bundles.sdk, out.sdkCache).catch((err) => fail(err.message));
await writeFile(
  out.seaConfig,
  JSON.stringify(
    seaConfig({ main: fromRoot(bundles.main), sdk: fromRoot(bundles.sdk), sdkCache: fromRoot(out.sdkCache), useCodeCache: true, output: fromRoot(out.blob) }),
    null,
    2,
  ) + '\n',
);
run(process.execPath, ['--experimental-sea-config', fromRoot(out.seaConfig)]);
const blob = await readFile(out.blob);
if (!(await injectViaTemplate(blob, out.exe))) {
  await copyFile(process.execPath, out.exe);
  await chmod(out.exe, 0o755);
  await injectWithPostject(out.exe, out.blob);
}
const names = [out.exe, ...(await addProgramNames(out.exe, suffix))];
// Smoke test: the binary must start under each name.
for (const exe of names) run(exe, ['--version'], { env: { ...process.env, NODE_OPTIONS: '' } });

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `built ${names.map(rel).join(' = ')} (${mb((await stat(out.exe)).size)}) with Node ${process.versions.node}; ` +
    `SDK asset ${mb((await stat(bundles.sdk)).size)}; in ${seconds}s`,
);

/** Runs a command, showing its output only if it fails. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', ...options });
  if (result.error || result.status !== 0) {
    process.stderr.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    fail(`${[command, ...args].join(' ')} failed${result.error ? `: ${result.error.message}` : ` (exit ${result.status})`}`);
  }
}

/**
 * Injects the blob with postject (run as a child process: its LIEF build prints warnings we
 * only want to see when it fails). Takes ~5 s on a Linux Node binary.
 */
async function injectWithPostject(exe, blobPath) {
  if (process.platform === 'darwin') run('codesign', ['--remove-signature', exe]);
  run(process.execPath, [
    path.join(root, 'node_modules/postject/dist/cli.js'),
    exe,
    'NODE_SEA_BLOB',
    blobPath,
    '--sentinel-fuse',
    SEA_FUSE,
    ...(process.platform === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : []),
  ]);
  if (process.platform === 'darwin') run('codesign', ['--sign', '-', exe]);
}

/**
 * Fast path for ELF (Linux), where postject's 5 s would dominate the build: postject injects a
 * placeholder blob of `reserve` bytes into this Node binary once, and the result is cached as
 * a template under node_modules/.cache. Each build copies the template, writes the real blob
 * over the placeholder (zero-filling the rest) and sets the note's size to the blob's. The
 * note stays in its PT_NOTE segment, which still covers the whole reserve (trailing zeros),
 * so the file is at most ~1.3 MB bigger than with postject alone.
 * Returns false (caller then uses postject directly) when not on ELF or when the template
 * does not check out.
 */
async function injectViaTemplate(blob, exePath) {
  if (process.platform !== 'linux') return false;
  const MiB = 1024 * 1024;
  const { size: nodeSize, mtimeMs } = await stat(process.execPath);
  const cacheDir = path.join(root, 'node_modules/.cache/session-manager-plugin-sea');
  const key = `node-${process.version}-${process.platform}-${process.arch}-${nodeSize}-${Math.trunc(mtimeMs)}`;
  await mkdir(cacheDir, { recursive: true });
  const existing = (await readdir(cacheDir))
    .map((file) => ({ file, match: /^(.*)-reserve(\d+)\.bin$/.exec(file) }))
    .filter(({ match }) => match?.[1] === key)
    .map(({ file, match }) => ({ file: path.join(cacheDir, file), reserve: Number(match[2]) }))
    .find(({ reserve }) => reserve >= blob.length && reserve - blob.length <= 2 * MiB);
  let template = existing;
  if (template === undefined) {
    // One template at a time: drop those for other Node binaries or blob sizes.
    await rm(cacheDir, { recursive: true, force: true });
    await mkdir(cacheDir, { recursive: true });
    const reserve = Math.ceil((blob.length + MiB / 4) / MiB) * MiB;
    template = { file: path.join(cacheDir, `${key}-reserve${reserve}.bin`), reserve };
    const placeholderPath = `${template.file}.placeholder`;
    const placeholder = Buffer.alloc(reserve);
    TEMPLATE_MARKER.copy(placeholder);
    await writeFile(placeholderPath, placeholder);
    const partial = `${template.file}.partial`;
    await copyFile(process.execPath, partial);
    await injectWithPostject(partial, placeholderPath);
    await rm(placeholderPath);
    await rename(partial, template.file);
  }

  const exe = await readFile(template.file);
  const descOffset = exe.indexOf(TEMPLATE_MARKER);
  const noteOffset = descOffset - 12 - 16; // Elf_Nhdr, then "NODE_SEA_BLOB\0" padded to 4
  const ok =
    descOffset > 0 &&
    exe.lastIndexOf(TEMPLATE_MARKER) === descOffset &&
    exe[5] === 1 && // ELFDATA2LSB
    exe.readUInt32LE(noteOffset) === 14 &&
    exe.readUInt32LE(noteOffset + 4) === template.reserve &&
    exe.toString('latin1', noteOffset + 12, noteOffset + 26) === 'NODE_SEA_BLOB\0' &&
    exe.includes(`${SEA_FUSE}:1`);
  if (!ok) {
    await rm(template.file, { force: true });
    return false;
  }
  exe.fill(0, descOffset, descOffset + template.reserve);
  blob.copy(exe, descOffset);
  exe.writeUInt32LE(blob.length, noteOffset + 4);
  await writeFile(exePath, exe, { mode: 0o755 });
  await settleInPageCache(exePath);
  return true;
}
