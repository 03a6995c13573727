#!/usr/bin/env node
import { processIO, runPlugin } from './run-plugin.ts';

// The one place that exits the process.
runPlugin(process.argv.slice(2), { env: process.env, io: processIO() }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`Cannot perform start session: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
