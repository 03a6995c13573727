import { remoteCommand, startSession, targetPlatform } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { RemoteCommandError } from '../errors.ts';
import { exitStatus } from '../../util/exit-status.ts';
import { awsOptions, checkAgentOutput, resolvedTargetFor, runToEnd } from '../session-runner.ts';

export const COMMAND_DOCUMENT = 'AWS-StartNonInteractiveCommand';
/** ECS containers: the document the library runs through ECS ExecuteCommand. */
export const ECS_COMMAND_DOCUMENT = 'AWS-StartInteractiveCommand';

/**
 * `ssm-session run TARGET -- COMMAND...`: AWS-StartNonInteractiveCommand with separate
 * output streams; the command's stdout and stderr go to ours, its exit code becomes our
 * exit status. Nothing else is printed on stdout; on stderr only a notice from the agent
 * (e.g. that the session is KMS-encrypted; not with -q), --stats, or a failure.
 *
 * The agent does not run a command through a shell: it splits it into words and executes
 * the first one. So the command goes as `sh -c '<command>'` (PowerShell on Windows
 * targets), and the remote shell parses it, as ssh's remote shell does. The platform comes
 * from the tag or ECS lookup, or else from one DescribeInstanceInformation call; when that
 * is not possible (not allowed, not listed), Linux and macOS's `sh` is assumed.
 *
 * In an ECS container the command runs through ECS ExecuteCommand, which only has
 * terminal sessions: its stdout and stderr arrive merged on our stdout with a terminal's
 * line ends (CRLF), and ECS reports no exit code, so a session that ends normally exits 0.
 */
export async function run(command: Extract<Command, { kind: 'run' }>): Promise<number> {
  const { global } = command;
  const aws = awsOptions(global);
  const resolved = await resolvedTargetFor(command.target, global);
  const target = resolved.target;
  const ecs = target.startsWith('ecs:');
  const platform = resolved.platform ?? (await targetPlatform(target, aws)) ?? 'Linux';
  const wrapped = remoteCommand(command.command, platform);
  const session = await startSession({
    target,
    aws,
    documentName: ecs ? ECS_COMMAND_DOCUMENT : COMMAND_DOCUMENT,
    parameters: ecs ? { command: [wrapped] } : { command: [wrapped], separateOutputStream: ['true'] },
  });
  const outcome = await runToEnd(session, global);
  if (outcome.status === 'ended') throw new Error(`the command was interrupted (${outcome.reason})`);
  checkAgentOutput(outcome);
  if (!ecs && outcome.exitCode === undefined) throw new RemoteCommandError(LOST_EXIT_STATUS);
  return exitStatus(outcome.exitCode);
}

/**
 * The agent sends the exit code only while its data channel is active, and its output
 * readers give up when it is paused (agent/session/shell/shell.go), as it is while the
 * connection is interrupted.
 */
export const LOST_EXIT_STATUS =
  "the session ended without the command's exit status (the agent drops it, and stops reading the command's " +
  'output, when its connection is paused or interrupted while the command runs): its output may be incomplete';
