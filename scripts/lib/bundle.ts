// The esbuild bundles, shared by `npm run build` (scripts/build.mjs) and `npm run release`:
//   main.cjs     src/entry/main.ts: both programs, @aws-sdk/* left external (the npm package
//                installs the SDK; the single executable serves it from its SDK asset)
//   aws-sdk.cjs  every @aws-sdk/client-* dependency in one CommonJS file, minified, one getter
//                per package (see src/aws/load-sdk.ts); embedded in the single executables
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { SDK_ASSET } from '../../src/aws/load-sdk.ts';

export const MAIN_BUNDLE = 'main.cjs';
/** The oldest Node the npm package supports (package.json `engines`, bin/launch.cjs). */
export const NPM_NODE_TARGET = 'node20';

export interface Bundles {
  main: string;
  sdk: string;
}

const common: esbuild.BuildOptions = {
  bundle: true,
  platform: 'node',
  target: NPM_NODE_TARGET,
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

/**
 * Built-in modules the main bundle loads on first use rather than at start-up: none is
 * needed before the data channel's socket opens unless the URL asks for it (tls and https
 * for wss://, zlib never: compression is off, §2.1), and loading them costs start-up time
 * (zlib and tls with its root store are the dearest). Each import of one gets a stand-in
 * whose first property read requires the real module.
 */
const LAZY_BUILTINS = ['zlib', 'tls', 'https'];

const LAZY_NAMESPACE = 'lazy-builtin';

/** The stand-in for built-in `name` (CommonJS, so `import x from` and `require` both get it). */
function lazyBuiltinSource(name: string): string {
  return `'use strict';
let loaded;
const load = () => (loaded ??= require(${JSON.stringify(`node:${name}`)}));
module.exports = new Proxy({}, {
  // esbuild's interop asks for __esModule and copies own keys: answer without loading.
  get: (_target, key) => (key === '__esModule' ? undefined : load()[key]),
  has: (_target, key) => key in load(),
  ownKeys: () => [],
});
`;
}

const lazyBuiltins: esbuild.Plugin = {
  name: 'lazy-builtins',
  setup(build) {
    const names = new Set(LAZY_BUILTINS);
    build.onResolve({ filter: /^(node:)?[a-z_]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!names.has(name)) return undefined;
      // The stand-in's own require is the real module.
      if (args.namespace === LAZY_NAMESPACE) return { path: args.path, external: true };
      return { path: name, namespace: LAZY_NAMESPACE };
    });
    build.onLoad({ filter: /.*/, namespace: LAZY_NAMESPACE }, (args) => ({ contents: lazyBuiltinSource(args.path), loader: 'js' }));
  },
};

/** The @aws-sdk/client-* packages in package.json `dependencies`. */
export async function sdkPackages(root: string): Promise<string[]> {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  return Object.keys(pkg.dependencies ?? {}).filter((name) => name.startsWith('@aws-sdk/client-'));
}

/** Writes the bundles into `outDir`; with `sdk: false`, only main.cjs (what the npm package needs). */
export async function buildBundles(root: string, outDir: string, options: { sdk: boolean }): Promise<Bundles> {
  const out = { main: path.join(outDir, MAIN_BUNDLE), sdk: path.join(outDir, SDK_ASSET) };
  const packages = await sdkPackages(root);
  await Promise.all([
    // Not minified: minifying changes neither the start-up time (the host binary uses a code
    // cache) nor the binary's size to speak of, and this stays readable.
    esbuild.build({ ...common, entryPoints: [path.join(root, 'src/entry/main.ts')], outfile: out.main, external: ['@aws-sdk/*'], plugins: [lazyBuiltins] }),
    options.sdk &&
      esbuild.build({
        ...common,
        stdin: {
          contents:
            'module.exports = {\n' +
            packages.map((name) => `  ${JSON.stringify(name)}: () => require(${JSON.stringify(name)}),\n`).join('') +
            '};\n',
          resolveDir: root,
          sourcefile: 'aws-sdk-entry.cjs',
          loader: 'js',
        },
        outfile: out.sdk,
        // Read only by V8: minified.
        minify: true,
      }),
  ]);
  return out;
}
