import { SsmSessionApi } from '../../aws/ssm-api.ts';
import { ssmSettings } from '../../client/aws-options.ts';
import { startSession } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { awsOptions, runToEnd, targetFor } from '../session-runner.ts';

export const SSH_DOCUMENT = 'AWS-StartSSHSession';
/** How long leaving may wait for TerminateSession. */
const TERMINATE_WAIT_MS = 3000;

/**
 * `ssm-session ssh-proxy HOST PORT`, an ssh ProxyCommand: AWS-StartSSHSession with stdin
 * and stdout as the raw byte stream and every message on stderr. When ssh closes stdin
 * (and sends SIGHUP), what it wrote last is delivered first; then, unlike the official
 * plugin, the session is terminated, so the agent drops its connection to sshd at once
 * instead of leaving it open until the session's idle timeout.
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
  const outcome = await runToEnd(session, global);
  if (outcome.status === 'ended') {
    const api = new SsmSessionApi(ssmSettings(aws));
    await Promise.race([
      api.terminateSession(session.sessionId).catch(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, TERMINATE_WAIT_MS).unref()),
    ]);
  }
  return 0;
}
