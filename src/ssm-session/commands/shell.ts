import { startSession } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { exitStatus } from '../../util/exit-status.ts';
import { awsOptions, checkAgentOutput, runToEnd, targetFor } from '../session-runner.ts';

/**
 * `ssm-session shell TARGET`: the default shell document in this terminal (raw mode,
 * resize, `~.` escape, Ctrl-C to the remote side), as with the drop-in plugin. In an ECS
 * container the library starts /bin/sh through ECS ExecuteCommand.
 */
export async function shell(command: Extract<Command, { kind: 'shell' }>): Promise<number> {
  const { global } = command;
  const target = await targetFor(command.target, global, 'shell');
  const session = await startSession({ target, aws: awsOptions(global), ...(command.ecsShell ? { ecsShell: command.ecsShell } : {}) });
  if (!global.quiet) process.stderr.write(`Starting session with SessionId: ${session.sessionId}\n`);
  const outcome = await runToEnd(session, global);
  checkAgentOutput(outcome);
  if (!global.quiet) process.stderr.write(`\nExiting session with sessionId: ${session.sessionId}.\n`);
  return outcome.status === 'closed' ? exitStatus(outcome.exitCode) : 0;
}
