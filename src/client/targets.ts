import type { InstanceInformation } from '@aws-sdk/client-ssm';
import type { Container, Task } from '@aws-sdk/client-ecs';
import { createEcsClient } from '../aws/ecs-api.ts';
import { loadEcsSdk } from '../aws/load-sdk.ts';
import { ecsSettings, type AwsOptions } from './aws-options.ts';
import { callAws, describeInstances, ssmRegion } from './instances.ts';
import { TargetError, type TargetCandidate } from './target-error.ts';

export { TargetError, type TargetCandidate, type TargetErrorReason } from './target-error.ts';
import type { RemotePlatform } from './remote-command.ts';

/**
 * Target specs, as users type them, resolved to what SSM StartSession takes:
 *
 * - `i-0123456789abcdef0`, `mi-0123456789abcdef0`: an instance id, used as it is.
 * - `tag:KEY=VALUE`: the managed instance with that tag (SSM DescribeInstanceInformation).
 * - `KEY=VALUE`, e.g. `Name=web`: short for `tag:KEY=VALUE`.
 * - `ecs:CLUSTER/TASK[/CONTAINER]`: a container of an ECS task (ECS DescribeTasks); the
 *   container may be left out when the task has exactly one.
 * - `ecs:CLUSTER_TASK_RUNTIMEID`: the SSM form of an ECS container, used as it is.
 *
 * A tag that matches several instances picks the one that is Online if only one is;
 * otherwise the TargetError lists every match. The first `=` splits key from value.
 */

/** What StartSession takes (`i-…`, `mi-…`, `ecs:cluster_task_runtimeId`), and a name for people. */
export interface ResolvedTarget {
  target: string;
  label: string;
  /** The target's operating system, when the lookup that resolved it told (tags, ECS tasks). */
  platform?: RemotePlatform;
}

export type TargetSpec =
  | { kind: 'instance'; id: string }
  | { kind: 'tag'; key: string; value: string }
  | { kind: 'ecs-task'; cluster: string; task: string; container: string | undefined }
  | { kind: 'ecs-target'; target: string };

const INSTANCE_ID = /^(?:i-(?:[0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$/;
const ECS_SSM_TARGET = /^ecs:[\w.-]+_[\w.-]+_[\w.-]+$/;
const ECS_NAME = /^[\w.-]+$/;
const USAGE =
  'use an instance id (i-…, mi-…), Name=VALUE, tag:KEY=VALUE, ecs:CLUSTER/TASK[/CONTAINER] or ecs:CLUSTER_TASK_RUNTIMEID';

/** Reads a target spec without calling AWS; throws TargetError('invalid-spec'). */
export function parseTargetSpec(text: string): TargetSpec {
  const spec = text.trim();
  if (spec.length === 0) throw new TargetError('invalid-spec', `no target given: ${USAGE}`);
  if (/^m?i-/.test(spec)) {
    if (!INSTANCE_ID.test(spec)) {
      throw new TargetError(
        'invalid-spec',
        `${JSON.stringify(spec)} is not a valid instance id (i- and 8 or 17 hex digits, or mi- and 17)`,
      );
    }
    return { kind: 'instance', id: spec };
  }
  if (spec.startsWith('ecs:')) return parseEcs(spec);
  const tag = spec.startsWith('tag:') ? spec.slice('tag:'.length) : spec;
  const eq = tag.indexOf('=');
  if (eq > 0 && eq < tag.length - 1 && (spec.startsWith('tag:') || !tag.slice(0, eq).includes(':'))) {
    return { kind: 'tag', key: tag.slice(0, eq), value: tag.slice(eq + 1) };
  }
  throw new TargetError('invalid-spec', `cannot read target ${JSON.stringify(spec)}: ${USAGE}`);
}

function parseEcs(spec: string): TargetSpec {
  const rest = spec.slice('ecs:'.length);
  if (!rest.includes('/')) {
    if (ECS_SSM_TARGET.test(spec)) return { kind: 'ecs-target', target: spec };
    throw new TargetError('invalid-spec', `cannot read ECS target ${JSON.stringify(spec)}: ${USAGE}`);
  }
  const parts = rest.split('/');
  const [cluster, task, container] = parts;
  if (parts.length > 3 || !cluster || !task || container === '' || !parts.every((p) => ECS_NAME.test(p))) {
    throw new TargetError('invalid-spec', `cannot read ECS target ${JSON.stringify(spec)}: use ecs:CLUSTER/TASK[/CONTAINER]`);
  }
  return { kind: 'ecs-task', cluster, task, container };
}

/**
 * Resolves a target spec (see above) to a StartSession target. Instance ids and the SSM
 * form of ECS targets are returned as they are, without calling AWS. Throws TargetError.
 */
export async function resolveTarget(spec: string, aws: AwsOptions = {}): Promise<ResolvedTarget> {
  const parsed = parseTargetSpec(spec);
  switch (parsed.kind) {
    case 'instance':
      return { target: parsed.id, label: parsed.id };
    case 'ecs-target':
      return { target: parsed.target, label: parsed.target };
    case 'tag':
      return resolveTag(parsed.key, parsed.value, aws);
    case 'ecs-task':
      return resolveEcsTask(parsed.cluster, parsed.task, parsed.container, aws);
  }
}

async function resolveTag(key: string, value: string, aws: AwsOptions): Promise<ResolvedTarget> {
  const what = `${key}=${value}`;
  // Tag filters cannot be combined with a PingStatus filter; status is checked here.
  const instances = await describeInstances([{ key: `tag:${key}`, values: [value] }], aws, `look up the tag ${what}`);
  if (instances.length === 0) {
    const region = await ssmRegion(aws);
    throw new TargetError(
      'not-found',
      `no managed instance has the tag ${what} (SSM DescribeInstanceInformation${region ? ` in ${region}` : ''}); ` +
        'is the instance registered with Systems Manager and tagged?',
    );
  }
  const candidates = instances
    .map(candidateOf)
    .sort((a, b) => Number(b.pingStatus === 'Online') - Number(a.pingStatus === 'Online'));
  const online = candidates.filter((c) => c.pingStatus === 'Online');
  const only = online.length === 1 ? online[0] : undefined;
  if (only) {
    const platform = platformOf(instances.find((i) => i.InstanceId === only.id)?.PlatformType);
    return { target: only.id, label: `${only.id} (${what})`, ...(platform ? { platform } : {}) };
  }
  const count = `${candidates.length} managed instance${candidates.length === 1 ? '' : 's'}`;
  if (online.length === 0) {
    throw new TargetError(
      'not-online',
      `the tag ${what} matches ${count}, none of them Online:\n${table(candidates)}`,
      candidates,
    );
  }
  throw new TargetError(
    'ambiguous',
    `the tag ${what} matches ${online.length} Online managed instances; choose one by id:\n${table(candidates)}`,
    candidates,
  );
}

async function resolveEcsTask(
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

/** `ecs:CLUSTER/TASK/CONTAINER`, the form people type. */
export function ecsLabel(container: EcsContainer): string {
  return `ecs:${container.cluster}/${container.taskId}/${container.container}`;
}

/**
 * Splits `ecs:CLUSTER_TASK_RUNTIMEID`. Task ids and runtime ids have no underscores,
 * cluster names may: the last two underscores are the separators.
 */
function parseEcsTarget(target: string): { cluster: string; taskId: string; runtimeId: string } {
  const parts = ECS_SSM_TARGET.test(target) ? target.slice('ecs:'.length).split('_') : [];
  const runtimeId = parts.pop();
  const taskId = parts.pop();
  const cluster = parts.join('_');
  if (!runtimeId || !taskId || !cluster) {
    throw new TargetError('invalid-spec', `${JSON.stringify(target)} is not an ECS target (ecs:CLUSTER_TASK_RUNTIMEID)`);
  }
  return { cluster, taskId, runtimeId };
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

function candidateOf(info: InstanceInformation): TargetCandidate {
  const platform = [info.PlatformName, info.PlatformVersion].filter(Boolean).join(' ');
  return {
    id: info.InstanceId ?? '?',
    pingStatus: info.PingStatus ?? 'unknown',
    computerName: info.ComputerName,
    ipAddress: info.IPAddress,
    platform: platform || info.PlatformType,
  };
}

function table(candidates: readonly TargetCandidate[]): string {
  const rows = candidates.map((c) => [c.id, c.pingStatus, c.computerName ?? '', c.ipAddress ?? '', c.platform ?? '']);
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}`).join('\n');
}

function lastSegment(arn: string | undefined): string | undefined {
  return arn?.split('/').at(-1) || undefined;
}

/** SSM's PlatformType as a RemotePlatform (undefined when unknown). */
function platformOf(platformType: string | undefined): RemotePlatform | undefined {
  return platformType === 'Windows' || platformType === 'MacOS' || platformType === 'Linux' ? platformType : undefined;
}

/**
 * The operating system of a StartSession target, for commands that must be wrapped for
 * its shell: an ECS container's from its task (DescribeTasks, remembered), a managed
 * instance's from one SSM DescribeInstanceInformation call. Undefined when the instance
 * is not listed or the call fails (e.g. not allowed): the caller picks a default.
 */
export async function targetPlatform(target: string, aws: AwsOptions = {}): Promise<RemotePlatform | undefined> {
  if (target.startsWith('ecs:')) return (await findEcsContainer(target, aws)).platform;
  if (!INSTANCE_ID.test(target)) return undefined;
  try {
    const found = await describeInstances([{ key: 'InstanceIds', values: [target] }], aws, `look up ${target}`, 5);
    return platformOf(found.find((i) => i.InstanceId === target)?.PlatformType);
  } catch {
    return undefined;
  }
}
