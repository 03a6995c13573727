import type { InstanceInformation, InstanceInformationStringFilter } from '@aws-sdk/client-ssm';
import { loadSsmSdk } from '../../aws/load-sdk.ts';
import { createSsmClient } from '../../aws/ssm-api.ts';
import { ssmSettings, type AwsOptions } from '../aws-options.ts';
import type { RemotePlatform } from '../remote-command.ts';
import { TargetError } from '../target-error.ts';
import { callAws } from './aws-call.ts';
import { candidateOf, candidateTable } from './format.ts';
import type { ResolvedTarget } from './spec.ts';

/** One filter: `tag:KEY` or `tag-key` go to the API; the others are matched by the caller. */
export interface InstanceFilter {
  key: string;
  values: string[];
}

/** Bounds the DescribeInstanceInformation pages (50 each) should a service keep paging. */
const MAX_PAGES = 2000;

/**
 * DescribeInstanceInformation with these filters, every page, through the SDK's paginator
 * (pages may be short or empty; 5 to 50 a page). Throws TargetError('lookup-failed').
 */
export async function describeInstances(
  filters: readonly InstanceFilter[],
  aws: AwsOptions,
  purpose: string,
  pageSize = 50,
): Promise<InstanceInformation[]> {
  const { sdk, client } = await callAws(purpose, async () => ({ sdk: await loadSsmSdk(), client: await createSsmClient(ssmSettings(aws)) }));
  try {
    const Filters: InstanceInformationStringFilter[] = filters.map((f) => ({ Key: f.key, Values: [...f.values] }));
    return await callAws(purpose, async () => {
      const instances: InstanceInformation[] = [];
      let pages = 0;
      for await (const page of sdk.paginateDescribeInstanceInformation({ client, pageSize }, Filters.length > 0 ? { Filters } : {})) {
        if (++pages > MAX_PAGES) throw new TargetError('lookup-failed', `cannot ${purpose}: too many result pages`);
        instances.push(...(page.InstanceInformationList ?? []).filter((i) => i.InstanceId));
      }
      return instances;
    });
  } finally {
    client.destroy();
  }
}

/** The region the SSM client for these options uses, for messages (undefined if unknown). */
export async function ssmRegion(aws: AwsOptions): Promise<string | undefined> {
  try {
    const client = await createSsmClient(ssmSettings(aws));
    try {
      return await client.config.region();
    } finally {
      client.destroy();
    }
  } catch {
    return undefined;
  }
}

/**
 * The managed instance with tag `key=value`. Several matches pick the one that is Online
 * if only one is; otherwise the TargetError lists every match.
 */
export async function resolveTag(key: string, value: string, aws: AwsOptions): Promise<ResolvedTarget> {
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
      `the tag ${what} matches ${count}, none of them Online:\n${candidateTable(candidates)}`,
      candidates,
    );
  }
  throw new TargetError(
    'ambiguous',
    `the tag ${what} matches ${online.length} Online managed instances; choose one by id:\n${candidateTable(candidates)}`,
    candidates,
  );
}

/**
 * A managed instance's operating system from one DescribeInstanceInformation call;
 * undefined when it is not listed or the call fails (e.g. not allowed).
 */
export async function instancePlatform(id: string, aws: AwsOptions): Promise<RemotePlatform | undefined> {
  try {
    const found = await describeInstances([{ key: 'InstanceIds', values: [id] }], aws, `look up ${id}`, 5);
    return platformOf(found.find((i) => i.InstanceId === id)?.PlatformType);
  } catch {
    return undefined;
  }
}

/** SSM's PlatformType as a RemotePlatform (undefined when unknown). */
function platformOf(platformType: string | undefined): RemotePlatform | undefined {
  return platformType === 'Windows' || platformType === 'MacOS' || platformType === 'Linux' ? platformType : undefined;
}
