import { startSession } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { awsOptions, runToEnd, targetFor } from '../session-runner.ts';

export const SSH_DOCUMENT = 'AWS-StartSSHSession';

/**
 * `ssm-session ssh-proxy HOST PORT`, an ssh ProxyCommand: AWS-StartSSHSession with stdin
 * and stdout as the raw byte stream and every message on stderr. When ssh closes stdin
 * (and sends SIGHUP), what it wrote last is delivered first; then the session is
 * terminated (the stream handler does it, as in the drop-in plugin), so the agent drops
 * its connection to sshd at once instead of leaving it open until the idle timeout.
 */
export async function sshProxy(command: Extract<Command, { kind: 'ssh-proxy' }>): Promise<number> {
  const { global } = command;
  const aws = awsOptions(global);
  const target = await targetFor(command.host, global);
  const session = await startSession({
    target,
    aws,
    documentName: SSH_DOCUMENT,
    parameters: { portNumber: [String(command.port)] },
  });
  await runToEnd(session, global);
  return 0;
}
