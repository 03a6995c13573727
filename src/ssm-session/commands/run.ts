import { startSession } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { awsOptions, exitStatus, runToEnd, targetFor } from '../session-runner.ts';

export const COMMAND_DOCUMENT = 'AWS-StartNonInteractiveCommand';
/** ECS containers: the document the library runs through ECS ExecuteCommand. */
export const ECS_COMMAND_DOCUMENT = 'AWS-StartInteractiveCommand';

/**
 * `ssm-session run TARGET -- COMMAND...`: AWS-StartNonInteractiveCommand with separate
 * output streams; the command's stdout and stderr go to ours, its exit code becomes our
 * exit status. Nothing else is printed unless asked (--stats) or something fails.
 *
 * In an ECS container the command runs through ECS ExecuteCommand, which only has
 * terminal sessions: its stdout and stderr arrive merged on our stdout with a terminal's
 * line ends (CRLF), and ECS reports no exit code, so a session that ends normally exits 0.
 */
export async function run(command: Extract<Command, { kind: 'run' }>): Promise<number> {
  const { global } = command;
  const target = await targetFor(command.target, global);
  const ecs = target.startsWith('ecs:');
  const session = await startSession({
    target,
    aws: awsOptions(global),
    documentName: ecs ? ECS_COMMAND_DOCUMENT : COMMAND_DOCUMENT,
    parameters: ecs ? { command: [command.command] } : { command: [command.command], separateOutputStream: ['true'] },
  });
  const outcome = await runToEnd(session, global);
  if (outcome.status === 'ended') throw new Error(`the command was interrupted (${outcome.reason})`);
  return exitStatus(outcome.exitCode);
}
