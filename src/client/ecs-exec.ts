import { createEcsClient } from '../aws/ecs-api.ts';
import { loadEcsSdk } from '../aws/load-sdk.ts';
import type { SessionParameters } from '../session/session-contract.ts';
import { awsErrorDetail } from './aws-context.ts';
import { ecsSettings, type AwsOptions } from './aws-options.ts';
import { ClientError } from './errors.ts';
import { ecsLabel, findEcsContainer } from './targets.ts';

/**
 * Shells and commands in ECS containers. SSM StartSession takes `ecs:` targets only for
 * port forwarding; a shell or a command goes through ECS ExecuteCommand, as
 * `aws ecs execute-command` does. Its session then runs like any other (ResumeSession and
 * TerminateSession go to SSM).
 */

/** What ECS exec starts for a shell when the caller names none. */
export const DEFAULT_ECS_SHELL = '/bin/sh';
export const INTERACTIVE_COMMAND_DOCUMENT = 'AWS-StartInteractiveCommand';
export const NON_INTERACTIVE_COMMAND_DOCUMENT = 'AWS-StartNonInteractiveCommand';

export interface EcsExecRequest {
  target: string;
  documentName?: string;
  parameters?: Record<string, string[]>;
  /** The shell for a session without a document. */
  ecsShell?: string;
}

/**
 * The command ECS ExecuteCommand should run for this request, or undefined when the
 * request is one for SSM StartSession (no `ecs:` target, or a port or other document).
 * Throws ClientError('invalid-argument') for what ECS exec cannot do.
 */
export function ecsExecCommand(request: EcsExecRequest): string | undefined {
  if (!request.target.startsWith('ecs:')) return undefined;
  if (!request.documentName) return request.ecsShell || DEFAULT_ECS_SHELL;
  if (request.documentName === NON_INTERACTIVE_COMMAND_DOCUMENT) {
    throw new ClientError(
      'invalid-argument',
      `ECS exec runs commands only in a terminal: use ${INTERACTIVE_COMMAND_DOCUMENT} for ${request.target} ` +
        '(stdout and stderr come merged, with no exit code)',
    );
  }
  if (request.documentName !== INTERACTIVE_COMMAND_DOCUMENT) return undefined;
  const command = request.parameters?.command;
  if (command?.length !== 1 || !command[0]) {
    throw new ClientError('invalid-argument', `${INTERACTIVE_COMMAND_DOCUMENT} needs one command (parameters.command)`);
  }
  return command[0];
}

/**
 * Starts `command` in the container behind an `ecs:CLUSTER_TASK_RUNTIMEID` target with
 * ECS ExecuteCommand (interactive: the only mode ECS has). The container's name comes
 * from DescribeTasks. Throws TargetError for a task or container that cannot take it,
 * ClientError('start-failed') when ECS refuses.
 */
export async function startEcsExec(target: string, command: string, aws: AwsOptions = {}): Promise<SessionParameters> {
  const container = await findEcsContainer(target, aws);
  const where = ecsLabel(container);
  let client: Awaited<ReturnType<typeof createEcsClient>>;
  let sdk: Awaited<ReturnType<typeof loadEcsSdk>>;
  try {
    sdk = await loadEcsSdk();
    client = await createEcsClient(ecsSettings(aws));
  } catch (err) {
    throw new ClientError('start-failed', `cannot call ECS: ${awsErrorDetail(err)}`);
  }
  try {
    const out = await client.send(
      new sdk.ExecuteCommandCommand({
        cluster: container.cluster,
        task: container.taskId,
        container: container.container,
        command,
        interactive: true,
      }),
    );
    const session = out.session;
    if (!session?.sessionId || !session.tokenValue || !session.streamUrl) {
      throw new Error('the response has no session id, token or stream URL');
    }
    return { sessionId: session.sessionId, tokenValue: session.tokenValue, streamUrl: session.streamUrl, target };
  } catch (err) {
    // No `cause`: SDK errors carry raw responses, which must not end up in a user's log.
    throw new ClientError('start-failed', `ExecuteCommand on ${where} failed: ${awsErrorDetail(err)}`);
  } finally {
    client.destroy();
  }
}
