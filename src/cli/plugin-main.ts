import { stdioFlushed } from '../util/flushed.ts';
import { processIO, runPlugin } from './run-plugin.ts';

/** Runs the plugin on this process's arguments and exits with its status (the one place that exits). */
export function pluginMain(): void {
  runPlugin(process.argv.slice(2), { env: process.env, io: processIO() }).then(
    (code) => exitWhenFlushed(code),
    (err: unknown) => {
      process.stderr.write(`Cannot perform start session: ${err instanceof Error ? err.message : String(err)}\n`);
      exitWhenFlushed(1);
    },
  );
}

/** Exits once the reader has our output: process.exit drops writes still queued for a pipe. */
function exitWhenFlushed(code: number): void {
  void stdioFlushed().then(() => process.exit(code));
}
