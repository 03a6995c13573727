import type { Container, Task } from '@aws-sdk/client-ecs';
import { createEcsClient } from '../../aws/ecs-api.ts';
import { loadEcsSdk } from '../../aws/load-sdk.ts';
import { ecsSettings, type AwsOptions } from '../aws-options.ts';
import type { RemotePlatform } from '../remote-command.ts';
import { TargetError } from '../target-error.ts';
import { callAws } from './aws-call.ts';
import { ecsLabel } from './format.ts';
import { parseEcsTarget, type ResolvedTarget } from './spec.ts';

/** A container of an ECS task that can take ECS exec, by name and runtime id. */
export interface EcsContainer {
  cluster: string;
  taskId: string;
  container: string;
  runtimeId: string;
  /** From the task's platformFamily (Windows containers say WINDOWS_SERVER_…); Linux otherwise. */
  platform: RemotePlatform;
}

/**
 * `ecs:CLUSTER/TASK[/CONTAINER]` to the SSM form `ecs:CLUSTER_TASK_RUNTIMEID` (ECS
 * DescribeTasks); the container may be left out when the task has exactly one.
 */
export async function resolveEcsTask(
  cluster: string,
  taskRef: string,
  containerName: string | undefined,
  aws: AwsOptions,
): Promise<ResolvedTarget> {
  const { task, taskId, clusterName } = await describeRunningTask(cluster, taskRef, aws);
  const containers = task.containers ?? [];
  const names = containers.map((c) => c.name ?? '?').join(', ');
  let container = containerName === undefined ? undefined : containers.find((c) => c.name === containerName);
  if (containerName !== undefined && !container) {
    throw new TargetError('not-found', `ECS task ${taskId} has no container ${containerName} (it has: ${names || 'none'})`);
  }
  if (!container) {
    if (containers.length !== 1) {
      throw new TargetError(
        containers.length === 0 ? 'not-found' : 'ambiguous',
        containers.length === 0
          ? `ECS task ${taskId} has no containers`
          : `ECS task ${taskId} has ${containers.length} containers (${names}); add one: ecs:${clusterName}/${taskId}/CONTAINER`,
      );
    }
    container = containers[0] as Container;
  }
  const found = execReady(task, container, taskId, clusterName);
  const target = `ecs:${clusterName}_${taskId}_${found.runtimeId}`;
  remember(aws, target, found);
  return { target, label: ecsLabel(found), platform: found.platform };
}

/**
 * The container behind an SSM-form ECS target (`ecs:CLUSTER_TASK_RUNTIMEID`), which ECS
 * ExecuteCommand needs by name: DescribeTasks, then the container with that runtime id.
 * Throws TargetError when the task is gone, not RUNNING, or has no such container.
 */
export async function findEcsContainer(target: string, aws: AwsOptions = {}): Promise<EcsContainer> {
  const known = containersSeen.get(cacheKey(aws, target));
  if (known) return known;
  const parsed = parseEcsTarget(target);
  const { task, taskId, clusterName } = await describeRunningTask(parsed.cluster, parsed.taskId, aws);
  const containers = task.containers ?? [];
  const container = containers.find((c) => c.runtimeId === parsed.runtimeId);
  if (!container) {
    const names = containers.map((c) => `${c.name ?? '?'} (${c.runtimeId ?? 'not started'})`).join(', ');
    throw new TargetError(
      'not-found',
      `ECS task ${taskId} has no container with runtime id ${parsed.runtimeId} (it has: ${names || 'none'})`,
    );
  }
  const found = execReady(task, container, taskId, clusterName);
  remember(aws, target, found);
  return found;
}

/** DescribeTasks for one task, which must exist and be RUNNING. */
async function describeRunningTask(
  cluster: string,
  taskRef: string,
  aws: AwsOptions,
): Promise<{ task: Task; taskId: string; clusterName: string }> {
  const lookup = `look up ECS task ${taskRef} in cluster ${cluster}`;
  const { sdk, client } = await callAws(lookup, async () => ({
    sdk: await loadEcsSdk(),
    client: await createEcsClient(ecsSettings(aws)),
  }));
  let task: Task | undefined;
  try {
    const out = await callAws(lookup, () => client.send(new sdk.DescribeTasksCommand({ cluster, tasks: [taskRef] })));
    task = out.tasks?.[0];
  } finally {
    client.destroy();
  }
  if (!task) throw new TargetError('not-found', `ECS task ${taskRef} was not found in cluster ${cluster}`);
  const taskId = lastSegment(task.taskArn) ?? taskRef;
  const clusterName = lastSegment(task.clusterArn) ?? cluster;
  if (task.lastStatus !== 'RUNNING') {
    throw new TargetError('not-online', `ECS task ${taskId} is ${task.lastStatus ?? 'in an unknown state'}, not RUNNING`);
  }
  return { task, taskId, clusterName };
}

/** The container, once it is known to take ECS exec (enabled, agent running, started). */
function execReady(task: Task, container: Container, taskId: string, cluster: string): EcsContainer {
  const name = container.name ?? '?';
  const agent = container.managedAgents?.find((a) => a.name === 'ExecuteCommandAgent');
  if (task.enableExecuteCommand === false || (agent && agent.lastStatus !== 'RUNNING')) {
    throw new TargetError(
      'not-online',
      `ECS exec is not available on container ${name} of task ${taskId}: the task must be started with ` +
        'execute command enabled and its ExecuteCommandAgent must be RUNNING',
    );
  }
  if (!container.runtimeId) {
    throw new TargetError('not-online', `container ${name} of ECS task ${taskId} has no runtime id yet (not started)`);
  }
  const platform = task.platformFamily?.toUpperCase().startsWith('WINDOWS') ? 'Windows' : 'Linux';
  return { cluster, taskId, container: name, runtimeId: container.runtimeId, platform };
}

/**
 * Containers already looked up, by target. A runtime id names one run of one container
 * for good, so an entry never goes stale; it saves resolveTarget + startSession a second
 * DescribeTasks.
 */
const containersSeen = new Map<string, EcsContainer>();
const CONTAINERS_SEEN_MAX = 64;

function cacheKey(aws: AwsOptions, target: string): string {
  return JSON.stringify([aws.ecsEndpoint ?? '', aws.region ?? '', aws.profile ?? '', target]);
}

function remember(aws: AwsOptions, target: string, container: EcsContainer): void {
  if (containersSeen.size >= CONTAINERS_SEEN_MAX) containersSeen.delete(containersSeen.keys().next().value as string);
  containersSeen.set(cacheKey(aws, target), container);
}

function lastSegment(arn: string | undefined): string | undefined {
  return arn?.split('/').at(-1) || undefined;
}
