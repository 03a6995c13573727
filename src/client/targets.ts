import type { AwsOptions } from './aws-options.ts';
import type { RemotePlatform } from './remote-command.ts';
import { findEcsContainer, resolveEcsTask } from './targets/ecs-lookup.ts';
import { instancePlatform, resolveTag } from './targets/ssm-lookup.ts';
import { isInstanceId, parseTargetSpec, type ResolvedTarget } from './targets/spec.ts';

export { TargetError, type TargetCandidate, type TargetErrorReason } from './target-error.ts';
export { parseTargetSpec, type ResolvedTarget, type TargetSpec } from './targets/spec.ts';
export { findEcsContainer, type EcsContainer } from './targets/ecs-lookup.ts';
export { ecsLabel } from './targets/format.ts';

/**
 * Resolves a target spec (targets/spec.ts) to a StartSession target. Instance ids and the
 * SSM form of ECS targets are returned as they are, without calling AWS; tags are looked
 * up in SSM (targets/ssm-lookup.ts), ECS tasks in ECS (targets/ecs-lookup.ts). Throws
 * TargetError.
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

/**
 * The operating system of a StartSession target, for commands that must be wrapped for
 * its shell: an ECS container's from its task (DescribeTasks, remembered), a managed
 * instance's from one SSM DescribeInstanceInformation call. Undefined when the instance
 * is not listed or the call fails (e.g. not allowed): the caller picks a default.
 */
export async function targetPlatform(target: string, aws: AwsOptions = {}): Promise<RemotePlatform | undefined> {
  if (target.startsWith('ecs:')) return (await findEcsContainer(target, aws)).platform;
  if (!isInstanceId(target)) return undefined;
  return instancePlatform(target, aws);
}
