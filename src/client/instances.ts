import type { InstanceInformation } from '@aws-sdk/client-ssm';
import { describeInstanceTags, Ec2Error } from '../aws/ec2-tags.ts';
import { loadSsmSdk } from '../aws/load-sdk.ts';
import { createSsmClient } from '../aws/ssm-api.ts';
import { awsErrorDetail } from './aws-context.ts';
import { ec2Settings, ssmSettings, type AwsOptions } from './aws-options.ts';
import { TargetError } from './target-error.ts';
import { describeInstances, type InstanceFilter } from './targets/ssm-lookup.ts';

export type { InstanceFilter } from './targets/ssm-lookup.ts';

/**
 * Managed instances as SSM lists them (DescribeInstanceInformation), with their tags.
 * DescribeInstanceInformation itself carries no tags (only tag *filters*); an EC2
 * instance's tags come from EC2 DescribeTags (aws/ec2-tags.ts), a hybrid (mi-) instance's
 * from SSM ListTagsForResource (which takes only managed-instance ids).
 */

export interface InstanceSummary {
  id: string;
  /** The Name tag; for a hybrid instance without one, the name given at activation. */
  name: string | undefined;
  pingStatus: string;
  /** Linux, Windows or MacOS. */
  platformType: string | undefined;
  /** e.g. `Amazon Linux 2023`. */
  platform: string | undefined;
  ipAddress: string | undefined;
  computerName: string | undefined;
  agentVersion: string | undefined;
  /** EC2Instance or ManagedInstance. */
  resourceType: string | undefined;
  /** Every tag; undefined when the tags could not be read (see tagsError). */
  tags: Record<string, string> | undefined;
}

export interface InstanceListing {
  instances: InstanceSummary[];
  /** Why tags (and so Name) are missing, when they could not be read (e.g. no ec2:DescribeTags permission). */
  tagsError: string | undefined;
}

/** Filter keys matched here against DescribeInstanceInformation's fields. */
export const LOCAL_FILTER_KEYS: Readonly<Record<string, (i: InstanceInformation) => string | undefined>> = {
  PingStatus: (i) => i.PingStatus,
  PlatformTypes: (i) => i.PlatformType,
  ResourceType: (i) => i.ResourceType,
  AgentVersion: (i) => i.AgentVersion,
  InstanceIds: (i) => i.InstanceId,
};

/** Ids per DescribeTags call (a filter takes up to 200 values). */
const TAG_BATCH = 200;
/** ListTagsForResource calls at once. */
const TAG_CALLS = 8;

/**
 * Every managed instance matching the filters, with tags unless `tags: false`. Tag
 * filters go to the API (which cannot combine them with other filters); PingStatus,
 * PlatformTypes, ResourceType, AgentVersion and InstanceIds are matched here. Throws
 * TargetError('lookup-failed') when SSM cannot be asked; missing tags only set tagsError.
 */
export async function listInstances(options: { aws?: AwsOptions; filters?: readonly InstanceFilter[]; tags?: boolean } = {}): Promise<InstanceListing> {
  const aws = options.aws ?? {};
  const filters = options.filters ?? [];
  const apiFilters = filters.filter((f) => f.key.startsWith('tag:') || f.key === 'tag-key');
  const local = filters.filter((f) => !apiFilters.includes(f));
  for (const filter of local) {
    if (!(filter.key in LOCAL_FILTER_KEYS)) throw new TargetError('invalid-spec', `unknown filter ${filter.key}`);
  }
  const found = (await describeInstances(apiFilters, aws, 'list managed instances')).filter((info) =>
    local.every((f) => f.values.includes(LOCAL_FILTER_KEYS[f.key]?.(info) ?? '')),
  );
  let tags = new Map<string, Record<string, string>>();
  let tagsError: string | undefined;
  if (options.tags !== false && found.length > 0) {
    try {
      tags = await instanceTags(found, aws);
    } catch (err) {
      tagsError = err instanceof Ec2Error ? err.message : awsErrorDetail(err);
    }
  }
  const instances = found.map((info) => summary(info, tagsError === undefined ? (tags.get(info.InstanceId ?? '') ?? {}) : undefined));
  return { instances, tagsError };
}

/** Tags by instance id: EC2 DescribeTags for i- ids, SSM ListTagsForResource for mi- ids. */
async function instanceTags(instances: readonly InstanceInformation[], aws: AwsOptions): Promise<Map<string, Record<string, string>>> {
  const ids = instances.map((i) => i.InstanceId as string);
  const tags = new Map<string, Record<string, string>>();
  const ec2Ids = ids.filter((id) => id.startsWith('i-'));
  const hybridIds = ids.filter((id) => id.startsWith('mi-'));
  for (let i = 0; i < ec2Ids.length; i += TAG_BATCH) {
    for (const [id, found] of await describeInstanceTags(ec2Ids.slice(i, i + TAG_BATCH), ec2Settings(aws))) tags.set(id, found);
  }
  if (hybridIds.length > 0) {
    const sdk = await loadSsmSdk();
    const client = await createSsmClient(ssmSettings(aws));
    try {
      const queue = [...hybridIds];
      const worker = async (): Promise<void> => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const out = await client.send(new sdk.ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: id }));
          tags.set(id, Object.fromEntries((out.TagList ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])));
        }
      };
      await Promise.all(Array.from({ length: Math.min(TAG_CALLS, hybridIds.length) }, worker));
    } finally {
      client.destroy();
    }
  }
  return tags;
}

function summary(info: InstanceInformation, tags: Record<string, string> | undefined): InstanceSummary {
  const platform = [info.PlatformName, info.PlatformVersion].filter(Boolean).join(' ');
  return {
    id: info.InstanceId ?? '?',
    name: tags?.Name ?? (info.ResourceType === 'ManagedInstance' ? info.Name : undefined),
    pingStatus: info.PingStatus ?? 'unknown',
    platformType: info.PlatformType,
    platform: platform || info.PlatformType,
    ipAddress: info.IPAddress,
    computerName: info.ComputerName,
    agentVersion: info.AgentVersion,
    resourceType: info.ResourceType,
    tags,
  };
}
