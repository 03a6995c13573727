// One single executable per target: the official Node binary, made smaller and unsigned,
// the SEA blob put in by Node's own `--build-sea` (run by the host's Node of the same
// version), then signed again where the platform needs it.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { adhocSign, removeSignature, stripSymbols } from './macho.ts';
import { nodeBinary } from './node-cache.ts';
import { removeCertificates, setImageChecksum } from './pe.ts';
import { ReleaseError, requireTool, run } from './run.ts';
import type { Target } from './targets.ts';
import { PROGRAM_NAMES, SEA_FUSE, addProgramNames, seaConfig, settleInPageCache } from '../lib/sea.ts';
import type { Bundles } from '../lib/bundle.ts';

export interface ExecutableInputs {
  bundles: Bundles;
  /** The SDK code cache, made by the host Node: only for the host's own target. */
  sdkCache?: string;
  /** The official Node binary of the host target, which makes every blob. */
  hostNode: string;
  host: boolean;
  work: string;
  outDir: string;
  log: (line: string) => void;
}

/** Builds `outDir/session-manager-plugin[.exe]` (plus its other name, a hard link) for `target`. */
export async function buildExecutable(target: Target, inputs: ExecutableInputs): Promise<string> {
  const base = await nodeBinary(target, inputs.log);
  await mkdir(inputs.work, { recursive: true });
  const prepared = path.join(inputs.work, `${target.id}-node${target.suffix}`);
  await prepare(target, base, prepared);

  await mkdir(inputs.outDir, { recursive: true });
  const exe = path.join(inputs.outDir, `${PROGRAM_NAMES[0]}${target.suffix}`);
  const configFile = path.join(inputs.work, `${target.id}.sea-config.json`);
  // Paths relative to the working directory: the main script's path ends up in the binary
  // (stack traces name it), and it must not be this machine's.
  const fromWork = (file: string) => path.relative(inputs.work, file);
  const config = seaConfig({
    main: fromWork(inputs.bundles.main),
    sdk: fromWork(inputs.bundles.sdk),
    ...(inputs.sdkCache === undefined ? {} : { sdkCache: fromWork(inputs.sdkCache) }),
    // A code cache only loads in the Node build that made it (and may crash another).
    useCodeCache: inputs.host,
    executable: prepared,
    output: exe,
  });
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  run(inputs.hostNode, ['--build-sea', configFile], { cwd: inputs.work, env: { ...process.env, NODE_OPTIONS: '' } });

  const built = await readFile(exe);
  if (!built.includes(`${SEA_FUSE}:1`)) throw new ReleaseError(`${target.id}: the SEA fuse was not flipped`);
  if (target.format === 'macho') await writeFile(exe, adhocSign(built, PROGRAM_NAMES[0]));
  if (target.format === 'pe') {
    setImageChecksum(built);
    await writeFile(exe, built);
  }
  await settleInPageCache(exe);
  await addProgramNames(exe, target.suffix);
  return exe;
}

/**
 * The Node binary as the blob should go into it: Linux binaries without symbols (-18 MB;
 * GNU strip for the host's architecture, the cross binutils or llvm-strip for the other),
 * macOS ones unsigned and without their debugging symbols (-40 MB), the Windows one without
 * its Authenticode signature, which injection would break.
 */
async function prepare(target: Target, base: string, prepared: string): Promise<void> {
  switch (target.format) {
    case 'elf': {
      const strip =
        target.arch === 'x64'
          ? requireTool('binutils', 'x86_64-linux-gnu-strip', 'llvm-strip', 'strip')
          : requireTool('binutils-aarch64-linux-gnu', 'aarch64-linux-gnu-strip', 'llvm-strip');
      run(strip, ['--strip-all', '-o', prepared, base]);
      return;
    }
    case 'macho':
      await writeFile(prepared, stripSymbols(removeSignature(await readFile(base))));
      return;
    case 'pe':
      await writeFile(prepared, removeCertificates(await readFile(base)));
      return;
  }
}
