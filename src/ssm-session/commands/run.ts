import { startSession } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { awsOptions, exitStatus, runToEnd, targetFor } from '../session-runner.ts';

export const COMMAND_DOCUMENT = 'AWS-StartNonInteractiveCommand';

/**
 * `ssm-session run TARGET -- COMMAND...`: AWS-StartNonInteractiveCommand with separate
 * output streams; the command's stdout and stderr go to ours, its exit code becomes our
 * exit status. Nothing else is printed unless asked (--stats) or something fails.
 */
export async function run(command: Extract<Command, { kind: 'run' }>): Promise<number> {
  const { global } = command;
  const target = await targetFor(command.target, global);
  const session = await startSession({
    target,
    aws: awsOptions(global),
    documentName: COMMAND_DOCUMENT,
    parameters: { command: [command.command], separateOutputStream: ['true'] },
  });
  const outcome = await runToEnd(session, global);
  if (outcome.status === 'ended') throw new Error(`the command was interrupted (${outcome.reason})`);
  return exitStatus(outcome.exitCode);
}
