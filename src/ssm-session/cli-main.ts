import { stdioFlushed } from '../util/flushed.ts';
import { EXIT_FAILURE, userMessage } from './errors.ts';
import { runCli } from './run-cli.ts';

/** Runs `ssm-session` on this process's arguments and exits with its status (the one place that exits). */
export function ssmSessionMain(): void {
  // A reader that goes away (`| head`) must not end us with a stack trace: the session
  // runner reacts to a closed stdout, and a closed stderr just loses its messages.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

  runCli(process.argv.slice(2), process.env).then(
    (code) => exitWhenFlushed(code),
    (err: unknown) => {
      process.stderr.write(`ssm-session: ${userMessage(err)}\n`);
      exitWhenFlushed(EXIT_FAILURE);
    },
  );
}

/** Exits once the reader has our output: process.exit drops writes still queued for a pipe. */
function exitWhenFlushed(code: number): void {
  void stdioFlushed().then(() => process.exit(code));
}
