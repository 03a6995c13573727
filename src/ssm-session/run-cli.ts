import { CLIENT_VERSION } from '../protocol/constants.ts';
import { parseArgs, type Command } from './args.ts';
import {
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OUTPUT_CLOSED,
  EXIT_USAGE,
  OutputClosedError,
  PickerCancelled,
  UsageError,
  userMessage,
} from './errors.ts';

/**
 * `ssm-session` behind argv: returns the exit status. Errors end as one line
 * `ssm-session: <message>` on stderr (status 1, or 2 for usage mistakes). Each command's
 * module, and with it the protocol code and the AWS SDK, is loaded only when it runs, so
 * `--help` and `--version` stay fast.
 */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let command: Command;
  try {
    command = await parseArgs(args, env, CLIENT_VERSION);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`ssm-session: ${userMessage(err)}\nTry 'ssm-session --help' for more information.\n`);
    return EXIT_USAGE;
  }
  try {
    switch (command.kind) {
      case 'output':
        process.stdout.write(`${command.text}\n`);
        return 0;
      case 'shell':
        return await (await import('./commands/shell.ts')).shell(command);
      case 'run':
        return await (await import('./commands/run.ts')).run(command);
      case 'forward':
        return await (await import('./commands/forward.ts')).forward(command);
      case 'ssh-proxy':
        return await (await import('./commands/ssh-proxy.ts')).sshProxy(command);
      case 'cp':
        return await (await import('./commands/cp.ts')).cp(command);
      case 'list':
        return await (await import('./commands/list.ts')).list(command);
    }
  } catch (err) {
    if (err instanceof OutputClosedError) return EXIT_OUTPUT_CLOSED;
    if (err instanceof PickerCancelled) {
      process.stderr.write(`ssm-session: ${userMessage(err)}\n`);
      return EXIT_INTERRUPTED;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`ssm-session: ${userMessage(err)}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`ssm-session: ${userMessage(err)}\n`);
    return EXIT_FAILURE;
  }
}
