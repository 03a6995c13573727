#!/usr/bin/env node
import { EXIT_FAILURE, userMessage } from './errors.ts';
import { runCli } from './run-cli.ts';

// The one place that exits the process.
runCli(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ssm-session: ${userMessage(err)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
