// Builds the plugin and `ssm-session` (`npm run build`; needs Node 24+, which `npm run` takes
// from node_modules/.bin):
//
//   dist/session-manager-plugin.cjs  the plugin's CLI bundle (src/cli/main.ts), @aws-sdk/* left
//                                    external; the npm `bin` entry runs it with whatever node is
//                                    installed
//   dist/ssm-session.cjs             the same for `ssm-session` (src/ssm-session/main.ts)
//   dist/aws-sdk.cjs                 every @aws-sdk/client-* dependency in one CommonJS bundle,
//                                    loaded on first use by src/aws/load-sdk.ts
//   dist/aws-sdk.cache               V8 code cache for it (made by running it once, here)
//   dist/<program>.sea-config.json, dist/<program>.sea-prep.blob
//   dist/session-manager-plugin      the single executables: this Node binary + a blob (main
//   dist/ssm-session                 script = the program's bundle, assets = the SDK files,
//                                    shared by both)
//
// Quiet on success apart from one summary line.

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

const esbuild = await import('esbuild');
// Node 24 runs the TypeScript directly; the asset names and the way the SDK bundle is
// compiled must be the very ones the binary uses, or V8 would reject the code cache.
const { SDK_ASSET, SDK_CACHE_ASSET, compileSdkBundle, wrapCommonJs } = await import(
  pathToFileURL(path.join(root, 'src/aws/load-sdk.ts')).href
);

const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
const sdkPackages = Object.keys(pkg.dependencies ?? {}).filter((name) => name.startsWith('@aws-sdk/client-'));

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// Start of the placeholder blob in a cached template binary (see injectViaTemplate).
const TEMPLATE_MARKER = Buffer.from('session-manager-plugin: reserved space for the SEA blob\0');
const exe = (name) => path.join(dist, process.platform === 'win32' ? `${name}.exe` : name);
/** The two single executables: the drop-in plugin and the standalone `ssm-session` CLI. */
const programs = [
  { name: 'session-manager-plugin', entry: 'src/cli/main.ts' },
  { name: 'ssm-session', entry: 'src/ssm-session/main.ts' },
].map(({ name, entry }) => ({
  name,
  entry: path.join(root, entry),
  bundle: path.join(dist, `${name}.cjs`),
  seaConfig: path.join(dist, `${name}.sea-config.json`),
  blob: path.join(dist, `${name}.sea-prep.blob`),
  exe: exe(name),
}));
const out = {
  sdk: path.join(dist, SDK_ASSET),
  sdkCache: path.join(dist, SDK_CACHE_ASSET),
};
const oldIntermediates = [path.join(dist, 'sea-config.json'), path.join(dist, 'sea-prep.blob')];

await mkdir(dist, { recursive: true });
await Promise.all(
  [...Object.values(out), ...oldIntermediates, ...programs.flatMap((p) => [p.bundle, p.seaConfig, p.blob, p.exe])].map((file) =>
    rm(file, { force: true }),
  ),
);

const common = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
  // Turn import() of anything left outside a bundle into require(): the SEA main script
  // and the SDK bundle are compiled without an ESM loader behind them.
  supported: { 'dynamic-import': false },
  define: {
    // ws's optional native add-ons cannot be loaded from inside the single executable.
    'process.env.WS_NO_BUFFER_UTIL': '"true"',
    'process.env.WS_NO_UTF_8_VALIDATE': '"true"',
  },
};

try {
  await Promise.all([
    // The CLIs, the SDK kept out. Not minified: minifying changes neither the start-up time
    // (the SEA uses a code cache) nor the binary's size to speak of, and this stays readable.
    ...programs.map((program) =>
      esbuild.build({
        ...common,
        entryPoints: [program.entry],
        outfile: program.bundle,
        external: ['@aws-sdk/*'],
      }),
    ),
    // The SDK: one file, minified (it is read only by V8), one getter per client package.
    esbuild.build({
      ...common,
      stdin: {
        contents:
          'module.exports = {\n' +
          sdkPackages.map((name) => `  ${JSON.stringify(name)}: () => require(${JSON.stringify(name)}),\n`).join('') +
          '};\n',
        resolveDir: root,
        sourcefile: 'aws-sdk-entry.cjs',
        loader: 'js',
      },
      outfile: out.sdk,
      minify: true,
    }),
  ]);
} catch {
  fail('esbuild failed (see above)');
}

// V8 code cache for the SDK bundle, taken after running each client's module code, so
// that it also holds the functions compiled on the way (V8 only caches compiled code).
// If V8 rejects it at run time (different flags or V8), the loader just compiles afresh.
{
  const code = await readFile(out.sdk, 'utf8');
  const { exports, script } = compileSdkBundle(code);
  for (const name of sdkPackages) exports[name]();
  await writeFile(out.sdkCache, script.createCachedData());
  // Sanity check: the cache must be accepted by this very Node.
  const vm = await import('node:vm');
  const check = new vm.Script(wrapCommonJs(code), {
    filename: `sea:${SDK_ASSET}`,
    cachedData: await readFile(out.sdkCache),
  });
  if (check.cachedDataRejected) fail('V8 rejected the SDK code cache it has just made');
}

// Both blobs are made first: the template (see injectViaTemplate) is sized for the larger.
const blobs = [];
for (const program of programs) {
  await writeFile(
    program.seaConfig,
    JSON.stringify(
      {
        main: fromRoot(program.bundle),
        output: fromRoot(program.blob),
        disableExperimentalSEAWarning: true,
        useCodeCache: true,
        useSnapshot: false, // crashes once http/ws are loaded
        execArgvExtension: 'none', // NODE_OPTIONS and --node-options are not honoured
        // A young generation of 4 MiB, not 128; two V8 worker threads, not four (fewer
        // malloc arenas; one alone lets GC fall behind). Measured on a quiet machine, peak
        // anonymous memory during a 256 MiB upload at ~90 MB/s: 28-33 MiB, against 31-37
        // with one thread and 31-34 with four.
        // --use-system-ca: TLS trusts the OS certificate store too, as the official plugin
        // does (src/transport/tls-trust.ts).
        execArgv: ['--max-semi-space-size=2', '--v8-pool-size=2', '--use-system-ca'],
        assets: { [SDK_ASSET]: fromRoot(out.sdk), [SDK_CACHE_ASSET]: fromRoot(out.sdkCache) },
      },
      null,
      2,
    ) + '\n',
  );
  run(process.execPath, ['--experimental-sea-config', fromRoot(program.seaConfig)]);
  blobs.push(await readFile(program.blob));
}
const largestBlob = Math.max(...blobs.map((blob) => blob.length));
for (const [i, program] of programs.entries()) {
  if (!(await injectViaTemplate(blobs[i], program.exe, largestBlob))) {
    await copyFile(process.execPath, program.exe);
    await chmod(program.exe, 0o755);
    await injectWithPostject(program.exe, program.blob);
  }
  // Smoke test: the binary must start.
  run(program.exe, ['--version'], { env: { ...process.env, NODE_OPTIONS: '' } });
}

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const sizes = await Promise.all(programs.map(async (program) => `${rel(program.exe)} (${mb((await stat(program.exe)).size)})`));
const sdkSize = (await stat(out.sdk)).size;
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`built ${sizes.join(', ')} with Node ${process.versions.node}; SDK asset ${mb(sdkSize)}; in ${seconds}s`);

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
 * so the file is at most ~1.3 MB bigger than with postject alone. The reserve is sized for
 * the largest blob of the build (`largestBlob`), so both programs share one template.
 * Returns false (caller then uses postject directly) when not on ELF or when the template
 * does not check out.
 */
async function injectViaTemplate(blob, exePath, largestBlob) {
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
    .find(({ reserve }) => reserve >= largestBlob && reserve - largestBlob <= 2 * MiB);
  let template = existing;
  if (template === undefined) {
    // One template at a time: drop those for other Node binaries or blob sizes.
    await rm(cacheDir, { recursive: true, force: true });
    await mkdir(cacheDir, { recursive: true });
    const reserve = Math.ceil((largestBlob + MiB / 4) / MiB) * MiB;
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
  // Written aside, then copied into place: one big write() leaves the page cache in large
  // folios, and every run of the fresh binary then maps ~30 MB more of it (measured: 65
  // instead of 44 MiB RSS for --version), as if it were a different program.
  const staged = `${exePath}.staged`;
  await writeFile(staged, exe, { mode: 0o755 });
  await copyFile(staged, exePath);
  await rm(staged, { force: true });
  await chmod(exePath, 0o755);
  return true;
}
