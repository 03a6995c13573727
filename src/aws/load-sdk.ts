/**
 * The only door to the AWS SDK. Nothing else in `src/` may import `@aws-sdk/*` at run
 * time (type-only imports are fine): the SDK is large, and loading it at start-up would
 * roughly quadruple the start-up time of the single binary.
 *
 * - From source (tests, `node src/cli/main.ts`) and from the npm bundle
 *   (`dist/session-manager-plugin.cjs`, where `@aws-sdk/*` is external), each loader is a
 *   plain dynamic `import()` of the package.
 * - In the single executable (Node SEA), the SDK is NOT in the main script: `scripts/build.mjs`
 *   bundles every `@aws-sdk/client-*` dependency into one CommonJS file, embedded as the
 *   SEA asset {@link SDK_ASSET}. It is compiled on first use only. That file's
 *   `module.exports` maps each package name to a getter, so the clients share one copy of
 *   the SDK core and a client's module code runs only when its getter is first called.
 *   A V8 code cache for it (asset {@link SDK_CACHE_ASSET}), made at build time, is used
 *   when V8 accepts it.
 *
 * To add a client (e.g. KMS): add the package to `dependencies` (the build picks up every
 * `@aws-sdk/client-*` there), add it to {@link SdkPackages}, and write a loader like
 * {@link loadSsmSdk} with its own literal `import()`.
 *
 * scripts/build.mjs imports this file (to make the code cache exactly as the binary will
 * use it), so it must keep having no run-time imports.
 */

/** The SDK packages reachable through this module, by package name. */
export interface SdkPackages {
  '@aws-sdk/client-ssm': typeof import('@aws-sdk/client-ssm');
  '@aws-sdk/client-kms': typeof import('@aws-sdk/client-kms');
  '@aws-sdk/client-ecs': typeof import('@aws-sdk/client-ecs');
}

export type SdkPackageName = keyof SdkPackages;

/** Name of the SEA asset holding the SDK bundle (written by scripts/build.mjs). */
export const SDK_ASSET = 'aws-sdk.cjs';
/** Name of the SEA asset holding the V8 code cache for {@link SDK_ASSET} (optional). */
export const SDK_CACHE_ASSET = 'aws-sdk.cache';

/** Loads `@aws-sdk/client-ssm` (once; later calls share the first load). */
export function loadSsmSdk(): Promise<SdkPackages['@aws-sdk/client-ssm']> {
  // The literal import() is what keeps the result typed and lets esbuild keep it external.
  return loadSdk('@aws-sdk/client-ssm', () => import('@aws-sdk/client-ssm'));
}

/** Loads `@aws-sdk/client-kms` (once), for KMS-encrypted sessions. */
export function loadKmsSdk(): Promise<SdkPackages['@aws-sdk/client-kms']> {
  return loadSdk('@aws-sdk/client-kms', () => import('@aws-sdk/client-kms'));
}

/** Loads `@aws-sdk/client-ecs` (once), for ECS targets of `ssm-session`. */
export function loadEcsSdk(): Promise<SdkPackages['@aws-sdk/client-ecs']> {
  return loadSdk('@aws-sdk/client-ecs', () => import('@aws-sdk/client-ecs'));
}

/** What the SDK bundle's `module.exports` is: one getter per bundled package. */
export type SdkBundleExports = { [K in SdkPackageName]?: () => SdkPackages[K] };

const loaded = new Map<SdkPackageName, Promise<unknown>>();

function loadSdk<K extends SdkPackageName>(
  name: K,
  importFromDisk: () => Promise<SdkPackages[K]>,
): Promise<SdkPackages[K]> {
  let promise = loaded.get(name) as Promise<SdkPackages[K]> | undefined;
  if (promise === undefined) {
    const sea = seaApi();
    promise = sea === undefined ? importFromDisk() : loadFromSea(sea, name);
    // A failed load is not memoised, so a later call may try again.
    promise.catch(() => loaded.delete(name));
    loaded.set(name, promise);
  }
  return promise;
}

type SeaApi = typeof import('node:sea');

/** The `node:sea` module when running as a single executable, otherwise undefined. */
function seaApi(): SeaApi | undefined {
  // process.getBuiltinModule works in ESM and CJS alike (Node >= 20.16 / 22.3).
  if (typeof process.getBuiltinModule !== 'function') return undefined;
  try {
    const sea = process.getBuiltinModule('node:sea');
    return sea?.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

let seaBundle: SdkBundleExports | undefined;

async function loadFromSea<K extends SdkPackageName>(sea: SeaApi, name: K): Promise<SdkPackages[K]> {
  if (seaBundle === undefined) {
    const code = sea.getAsset(SDK_ASSET, 'utf8');
    let cache: Uint8Array | undefined;
    try {
      cache = new Uint8Array(sea.getRawAsset(SDK_CACHE_ASSET));
    } catch {
      cache = undefined; // built without a code cache
    }
    seaBundle = compileSdkBundle(code, cache).exports;
  }
  const get = seaBundle[name];
  if (get === undefined) throw new Error(`${name} is not in this build's SDK bundle`);
  return get() as SdkPackages[K];
}

/**
 * Compiles and runs the SDK bundle's CommonJS source (exported for the build script, which
 * makes the code cache, and for tests). The bundle may only `require` Node built-ins: it is
 * self-contained by construction, and this keeps it from picking up stray files next to the
 * binary. `cacheRejected` says whether V8 refused `cachedData` (undefined when none given).
 */
export function compileSdkBundle(
  code: string,
  cachedData?: Uint8Array,
): { exports: SdkBundleExports; script: import('node:vm').Script; cacheRejected: boolean | undefined } {
  const vm = process.getBuiltinModule('node:vm');
  const filename = `sea:${SDK_ASSET}`;
  const script = new vm.Script(wrapCommonJs(code), {
    filename,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  const module = { exports: {} as SdkBundleExports };
  const fn = script.runInThisContext() as (
    exports: unknown,
    require: (id: string) => unknown,
    module: unknown,
    __filename: string,
    __dirname: string,
  ) => void;
  fn.call(module.exports, module.exports, requireBuiltin, module, filename, 'sea:');
  const cacheRejected = cachedData === undefined ? undefined : script.cachedDataRejected === true;
  return { exports: module.exports, script, cacheRejected };
}

/** The CommonJS wrapper (same shape as Node's own); the source must not change between build and run. */
export function wrapCommonJs(code: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
}

function requireBuiltin(id: string): unknown {
  const found = process.getBuiltinModule(id);
  if (found === undefined) {
    const message = `Cannot find module '${id}' (the embedded AWS SDK may only load Node built-ins)`;
    throw Object.assign(new Error(message), { code: 'MODULE_NOT_FOUND' });
  }
  return found;
}
