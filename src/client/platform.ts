import type { AwsOptions } from './aws-options.ts';
import { describeInstances } from './instances.ts';

/** A target's operating system family, as SSM's PlatformType says it. */
export type RemotePlatform = 'Linux' | 'MacOS' | 'Windows';

/**
 * The platform of an instance target, from DescribeInstanceInformation; undefined when it
 * cannot be told (ECS containers, an instance SSM does not list, or no permission to ask).
 */
export async function targetPlatform(target: string, aws: AwsOptions = {}): Promise<RemotePlatform | undefined> {
  if (!/^m?i-/.test(target)) return undefined;
  try {
    const [info] = await describeInstances([{ key: 'InstanceIds', values: [target] }], aws, `look up ${target}`);
    const type = info?.PlatformType;
    return type === 'Linux' || type === 'MacOS' || type === 'Windows' ? type : undefined;
  } catch {
    return undefined;
  }
}
