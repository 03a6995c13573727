import { LOCAL_FILTER_KEYS, type InstanceFilter } from '../client/instances.ts';
import { UsageError } from './errors.ts';

/**
 * `--filter` values of `list` as instance filters: `tag:KEY=VALUE` (or `KEY=VALUE`, as in
 * target specs), `tag-key=KEY`, and `PingStatus=`, `PlatformTypes=`, `ResourceType=`,
 * `AgentVersion=`, `InstanceIds=` with comma-separated alternatives. Filters with the
 * same key are alternatives; different keys must all match.
 */
export function parseListFilters(texts: readonly string[]): InstanceFilter[] {
  const byKey = new Map<string, string[]>();
  for (const text of texts) {
    const { key, values } = parseOne(text);
    byKey.set(key, [...(byKey.get(key) ?? []), ...values]);
  }
  return [...byKey].map(([key, values]) => ({ key, values }));
}

function parseOne(text: string): InstanceFilter {
  const body = text.startsWith('tag:') ? text.slice('tag:'.length) : text;
  const eq = body.indexOf('=');
  if (eq <= 0 || eq === body.length - 1) {
    throw new UsageError(`--filter ${JSON.stringify(text)}: use tag:KEY=VALUE, tag-key=KEY or PingStatus=Online (also PlatformTypes, ResourceType, AgentVersion, InstanceIds)`);
  }
  const key = body.slice(0, eq);
  const value = body.slice(eq + 1);
  if (!text.startsWith('tag:') && key === 'tag-key') return { key, values: [value] };
  if (!text.startsWith('tag:') && key in LOCAL_FILTER_KEYS) return { key, values: value.split(',').filter((v) => v !== '') };
  return { key: `tag:${key}`, values: [value] };
}
