import { startSession } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { awsOptions, runToEnd, targetFor } from '../session-runner.ts';

export const SSH_DOCUMENT = 'AWS-StartSSHSession';

/**
 * `ssm-session ssh-proxy HOST PORT`, an ssh ProxyCommand: AWS-StartSSHSession with stdin
 * and stdout as the raw byte stream and every message on stderr. Ends cleanly when ssh
 * closes stdin (and sends SIGHUP), once what it wrote last has been delivered.
 */
export async function sshProxy(command: Extract<Command, { kind: 'ssh-proxy' }>): Promise<number> {
  const { global } = command;
  const target = await targetFor(command.host, global);
  const session = await startSession({
    target,
    aws: awsOptions(global),
    documentName: SSH_DOCUMENT,
    parameters: { portNumber: [String(command.port)] },
  });
  await runToEnd(session, global);
  return 0;
}
