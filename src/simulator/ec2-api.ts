import { randomUUID } from 'node:crypto';
import { ApiError } from './api-error.ts';
import type { InstanceRegistry } from './instances.ts';

/**
 * A fake Amazon EC2 with the one operation `ssm-session list` needs: DescribeTags (EC2's
 * Query protocol: a form-encoded POST with `Action=DescribeTags`, an XML answer), over
 * the tags of the simulator's EC2 instances (`i-…`; hybrid `mi-…` instances are SSM's,
 * not EC2's). Filters `resource-id`, `resource-type`, `key` and `value`; MaxResults 5 to
 * 1000 (default: everything) with an opaque NextToken.
 */

const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const FILTER_NAMES = new Set(['resource-id', 'resource-type', 'key', 'value']);

interface TagRow {
  resourceId: string;
  key: string;
  value: string;
}

/** The operation named by the form's Action, for the API call log. */
export function ec2Action(form: URLSearchParams): string {
  return form.get('Action') ?? '(none)';
}

/** Runs an EC2 Query request; returns the XML body. Throws ApiError (see ec2ErrorXml). */
export function ec2Query(form: URLSearchParams, instances: InstanceRegistry): string {
  const action = form.get('Action');
  if (action !== 'DescribeTags') throw new ApiError('InvalidAction', 400, `The action ${action ?? '(none)'} is not valid for this web service.`);
  const filters = readFilters(form);
  const rows: TagRow[] = instances
    .list()
    .filter((instance) => instance.id.startsWith('i-'))
    .flatMap((instance) => Object.entries(instance.tags).map(([key, value]) => ({ resourceId: instance.id, key, value })))
    .filter((row) => [...filters].every(([name, values]) => values.includes(field(row, name))));
  const maxResults = readMaxResults(form.get('MaxResults'));
  const offset = readToken(form.get('NextToken'));
  const page = rows.slice(offset, offset + maxResults);
  const next = offset + maxResults < rows.length ? `<nextToken>${Buffer.from(String(offset + maxResults)).toString('base64')}</nextToken>` : '';
  const items = page
    .map(
      (row) =>
        `<item><resourceId>${xml(row.resourceId)}</resourceId><resourceType>instance</resourceType>` +
        `<key>${xml(row.key)}</key><value>${xml(row.value)}</value></item>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeTagsResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><tagSet>${items}</tagSet>${next}</DescribeTagsResponse>`;
}

/** EC2's error document. */
export function ec2ErrorXml(error: ApiError): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xml(error.type)}</Code><Message>${xml(error.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
}

function readFilters(form: URLSearchParams): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (let n = 1; form.has(`Filter.${n}.Name`); n++) {
    const name = form.get(`Filter.${n}.Name`) as string;
    if (!FILTER_NAMES.has(name)) throw new ApiError('InvalidParameterValue', 400, `The filter '${name}' is invalid`);
    const values: string[] = [];
    for (let v = 1; form.has(`Filter.${n}.Value.${v}`); v++) values.push(form.get(`Filter.${n}.Value.${v}`) as string);
    filters.set(name, [...(filters.get(name) ?? []), ...values]);
  }
  return filters;
}

function field(row: TagRow, name: string): string {
  switch (name) {
    case 'resource-id':
      return row.resourceId;
    case 'resource-type':
      return 'instance';
    case 'key':
      return row.key;
    default:
      return row.value;
  }
}

function readMaxResults(value: string | null): number {
  if (value === null) return Number.MAX_SAFE_INTEGER;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 5 || n > 1000) throw new ApiError('InvalidParameterValue', 400, `Value ( ${value} ) for parameter maxResults is invalid.`);
  return n;
}

function readToken(value: string | null): number {
  if (value === null || value === '') return 0;
  const n = Number(Buffer.from(value, 'base64').toString('utf8'));
  if (!Number.isInteger(n) || n < 0) throw new ApiError('InvalidParameterValue', 400, 'The token is invalid.');
  return n;
}

function xml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
