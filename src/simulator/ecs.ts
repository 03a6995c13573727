import { createHash } from 'node:crypto';
import { ApiError, optionalString } from './api-error.ts';
import { DEFAULT_ACCOUNT_ID } from './kms.ts';

/**
 * A fake Amazon ECS (JSON 1.1, `X-Amz-Target: AmazonEC2ContainerServiceV20141113.*`) with
 * the two operations `aws ecs execute-command` uses (PROTOCOL.md §1.5): ExecuteCommand
 * (starts an InteractiveCommands session whose target is
 * `ecs:<clusterName>_<taskId>_<containerRuntimeId>`) and DescribeTasks (which the CLI uses
 * to find the container's runtimeId).
 *
 * Without registered tasks the fake is permissive: every task exists, in every cluster,
 * with one container (the one named in the request, or `app`). Once a task is registered
 * with `addTask`, only registered tasks exist.
 */

export const ECS_TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
export const ECS_EXEC_DOCUMENT = 'AmazonECS-ExecuteInteractiveCommand';
export const ECS_SESSION_ID_PREFIX = 'ecs-execute-command-';
const DEFAULT_CLUSTER = 'default';
const DEFAULT_CONTAINER = 'app';
/** Task states in which containers have been started (and so have a runtimeId). */
const STARTED_STATUSES = new Set(['RUNNING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED']);

export interface EcsTaskSpec {
  cluster?: string;
  /** Task id (the last segment of the task ARN); random when omitted. */
  taskId?: string;
  /** Container names (default ['app']). */
  containers?: string[];
  /** lastStatus of the ExecuteCommandAgent managed agent (default RUNNING). */
  executeCommandAgentStatus?: string;
  /** The task's lastStatus (default RUNNING). */
  lastStatus?: string;
  /** platformFamily as Fargate reports it (default Linux; Windows tasks say e.g. WINDOWS_SERVER_2019_CORE). */
  platformFamily?: string;
}

interface EcsTask {
  cluster: string;
  taskId: string;
  containers: string[];
  agentStatus: string;
  lastStatus: string;
  platformFamily: string;
}

/** What ExecuteCommand asks the simulator to start. */
export interface EcsSessionRequest {
  target: string;
  command: string;
  cluster: string;
  taskId: string;
  container: string;
}

export interface EcsStartedSession {
  sessionId: string;
  streamUrl: string;
  tokenValue: string;
}

export class FakeEcs {
  readonly accountId: string;
  private readonly tasks = new Map<string, EcsTask>();
  /** Permissive mode: containers that ExecuteCommand has named, per task, so DescribeTasks agrees. */
  private readonly seen = new Map<string, EcsTask>();

  constructor(options: { accountId?: string } = {}) {
    this.accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  }

  /** Registers a task; from then on only registered tasks exist. Returns its task id. */
  addTask(spec: EcsTaskSpec = {}): string {
    const task: EcsTask = {
      cluster: spec.cluster ?? DEFAULT_CLUSTER,
      taskId: spec.taskId ?? createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 32),
      containers: spec.containers ?? [DEFAULT_CONTAINER],
      agentStatus: spec.executeCommandAgentStatus ?? 'RUNNING',
      lastStatus: spec.lastStatus ?? 'RUNNING',
      platformFamily: spec.platformFamily ?? 'Linux',
    };
    this.tasks.set(taskKey(task.cluster, task.taskId), task);
    return task.taskId;
  }

  /** The runtimeId the fake reports for a container (stable for the same names). */
  runtimeId(cluster: string, taskId: string, container: string): string {
    const digits = BigInt(`0x${createHash('sha256').update(`${cluster}/${taskId}/${container}`).digest('hex').slice(0, 12)}`);
    return `${taskId}-${(digits % 10_000_000_000n).toString().padStart(10, '0')}`;
  }

  executeCommand(
    body: Record<string, unknown>,
    region: string,
    start: (request: EcsSessionRequest) => EcsStartedSession,
  ): Record<string, unknown> {
    const taskRef = requireString(body, 'task');
    const command = requireString(body, 'command');
    if (typeof body.interactive !== 'boolean') {
      throw new ApiError('InvalidParameterException', 400, 'interactive must be specified.');
    }
    if (!body.interactive) {
      throw new ApiError('InvalidParameterException', 400, 'Interactive is the only mode supported currently.');
    }
    const cluster = lastSegment(optionalString(body, 'cluster') ?? DEFAULT_CLUSTER);
    const taskId = lastSegment(taskRef);
    const task = this.findTask(cluster, taskId, optionalString(body, 'container'));
    if (!task) throw new ApiError('InvalidParameterException', 400, 'The specified task is not found.');
    if (task.lastStatus !== 'RUNNING') {
      throw new ApiError('InvalidParameterException', 400, 'The execute command failed because the task is not running.');
    }
    const requested = optionalString(body, 'container');
    let container: string;
    if (requested !== undefined) {
      if (!task.containers.includes(requested)) {
        throw new ApiError('InvalidParameterException', 400, `The specified container ${requested} is not found.`);
      }
      container = requested;
    } else if (task.containers.length === 1) {
      container = task.containers[0] as string;
    } else {
      throw new ApiError(
        'InvalidParameterException',
        400,
        'The task has more than one container; a container must be specified.',
      );
    }
    if (task.agentStatus !== 'RUNNING') {
      throw new ApiError(
        'InvalidParameterException',
        400,
        'The execute command failed because execute command was not enabled when the task was run ' +
          'or the execute command agent is not running. Wait and try again or run a new task with ' +
          'execute command enabled and try again.',
      );
    }
    if (this.tasks.size === 0) {
      const key = taskKey(cluster, taskId);
      const known = this.seen.get(key) ?? { ...task, containers: [] };
      if (!known.containers.includes(container)) known.containers.push(container);
      this.seen.set(key, known);
    }
    const runtimeId = this.runtimeId(cluster, taskId, container);
    const session = start({ target: `ecs:${cluster}_${taskId}_${runtimeId}`, command, cluster, taskId, container });
    return {
      clusterArn: this.clusterArn(region, cluster),
      containerArn: this.containerArn(region, cluster, taskId, container),
      containerName: container,
      interactive: true,
      session,
      taskArn: this.taskArn(region, cluster, taskId),
    };
  }

  describeTasks(body: Record<string, unknown>, region: string): Record<string, unknown> {
    const refs = body.tasks;
    if (!Array.isArray(refs) || !refs.every((ref) => typeof ref === 'string')) {
      throw new ApiError('InvalidParameterException', 400, 'Tasks cannot be empty.');
    }
    if (refs.length === 0 || refs.length > 100) {
      throw new ApiError('InvalidParameterException', 400, 'Tasks cannot be empty or have more than 100 entries.');
    }
    const cluster = lastSegment(optionalString(body, 'cluster') ?? DEFAULT_CLUSTER);
    const tasks: Record<string, unknown>[] = [];
    const failures: Record<string, unknown>[] = [];
    for (const ref of refs as string[]) {
      const taskId = lastSegment(ref);
      const task = this.findTask(cluster, taskId, undefined);
      if (!task) {
        failures.push({ arn: this.taskArn(region, cluster, taskId), reason: 'MISSING' });
        continue;
      }
      const taskArn = this.taskArn(region, cluster, taskId);
      tasks.push({
        taskArn,
        clusterArn: this.clusterArn(region, cluster),
        lastStatus: task.lastStatus,
        desiredStatus: 'RUNNING',
        launchType: 'FARGATE',
        platformFamily: task.platformFamily,
        enableExecuteCommand: true,
        containers: task.containers.map((name) => ({
          containerArn: this.containerArn(region, cluster, taskId, name),
          taskArn,
          name,
          // A container gets its runtime id once it has been started.
          ...(STARTED_STATUSES.has(task.lastStatus) ? { runtimeId: this.runtimeId(cluster, taskId, name) } : {}),
          lastStatus: task.lastStatus,
          managedAgents: [{ name: 'ExecuteCommandAgent', lastStatus: task.agentStatus }],
        })),
      });
    }
    return { tasks, failures };
  }

  /**
   * In permissive mode a task exists with the requested container, or with the containers
   * ExecuteCommand used on it so far, or with `app`.
   */
  private findTask(cluster: string, taskId: string, container: string | undefined): EcsTask | undefined {
    if (this.tasks.size > 0) return this.tasks.get(taskKey(cluster, taskId));
    const seen = this.seen.get(taskKey(cluster, taskId));
    if (seen && (container === undefined || seen.containers.includes(container))) return seen;
    return {
      cluster,
      taskId,
      containers: [container ?? DEFAULT_CONTAINER],
      agentStatus: 'RUNNING',
      lastStatus: 'RUNNING',
      platformFamily: 'Linux',
    };
  }

  private clusterArn(region: string, cluster: string): string {
    return `arn:aws:ecs:${region}:${this.accountId}:cluster/${cluster}`;
  }

  private taskArn(region: string, cluster: string, taskId: string): string {
    return `arn:aws:ecs:${region}:${this.accountId}:task/${cluster}/${taskId}`;
  }

  private containerArn(region: string, cluster: string, taskId: string, container: string): string {
    const hex = createHash('sha256').update(`${cluster}/${taskId}/${container}`).digest('hex');
    const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
    return `arn:aws:ecs:${region}:${this.accountId}:container/${cluster}/${taskId}/${id}`;
  }
}

function taskKey(cluster: string, taskId: string): string {
  return `${cluster}/${taskId}`;
}

/** Cluster and task may be given as names/ids or as ARNs. */
function lastSegment(value: string): string {
  return value.split('/').at(-1) ?? value;
}

function requireString(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== 'string' || value.length === 0) {
    throw new ApiError('InvalidParameterException', 400, `${key} can not be blank.`);
  }
  return value;
}
