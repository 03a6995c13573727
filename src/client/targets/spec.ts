import { TargetError } from '../target-error.ts';
import type { RemotePlatform } from '../remote-command.ts';

/**
 * Target specs, as users type them, read without calling AWS:
 *
 * - `i-0123456789abcdef0`, `mi-0123456789abcdef0`: an instance id, used as it is.
 * - `tag:KEY=VALUE`: the managed instance with that tag (SSM DescribeInstanceInformation).
 * - `KEY=VALUE`, e.g. `Name=web`: short for `tag:KEY=VALUE`.
 * - `ecs:CLUSTER/TASK[/CONTAINER]`: a container of an ECS task (ECS DescribeTasks); the
 *   container may be left out when the task has exactly one.
 * - `ecs:CLUSTER_TASK_RUNTIMEID`: the SSM form of an ECS container, used as it is.
 *
 * The first `=` splits key from value.
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

/** Whether `text` is an EC2 (`i-`) or hybrid (`mi-`) instance id. */
export function isInstanceId(text: string): boolean {
  return INSTANCE_ID.test(text);
}

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
 * Splits `ecs:CLUSTER_TASK_RUNTIMEID`. Task ids and runtime ids have no underscores,
 * cluster names may: the last two underscores are the separators.
 */
export function parseEcsTarget(target: string): { cluster: string; taskId: string; runtimeId: string } {
  const parts = ECS_SSM_TARGET.test(target) ? target.slice('ecs:'.length).split('_') : [];
  const runtimeId = parts.pop();
  const taskId = parts.pop();
  const cluster = parts.join('_');
  if (!runtimeId || !taskId || !cluster) {
    throw new TargetError('invalid-spec', `${JSON.stringify(target)} is not an ECS target (ecs:CLUSTER_TASK_RUNTIMEID)`);
  }
  return { cluster, taskId, runtimeId };
}
