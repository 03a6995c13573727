import { processIO, runPlugin } from './run-plugin.ts';

/** Runs the plugin on this process's arguments and exits with its status (the one place that exits). */
export function pluginMain(): void {
  runPlugin(process.argv.slice(2), { env: process.env, io: processIO() }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`Cannot perform start session: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
