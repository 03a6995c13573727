// The entry point of the built programs (dist/main.cjs): the single executable runs it as
// its main script and picks the program by the name it was started as; the npm launchers
// (bin/*.cjs) require it and call main() with the program they stand for.
import { programForInvocation, type ProgramName } from './program.ts';

export type { ProgramName };

/** Runs one program; each is loaded only when chosen, so the other costs no start-up time. */
export async function main(program: ProgramName): Promise<void> {
  if (program === 'ssm-session') (await import('../ssm-session/cli-main.ts')).ssmSessionMain();
  else (await import('../cli/plugin-main.ts')).pluginMain();
}

// getBuiltinModule is missing before Node 20.16; the npm launchers call main() themselves.
if (process.getBuiltinModule?.('node:sea')?.isSea()) {
  void main(programForInvocation(process.argv0, process.execPath));
}
