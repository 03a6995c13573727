import { createHash } from 'node:crypto';
import { ApiError } from './api-error.ts';
import {
  INSTANCE_ID_PATTERN,
  PING_STATUSES,
  PLATFORM_TYPES,
  RESOURCE_TYPES,
  type InstanceRegistry,
  type ManagedInstance,
} from './instances.ts';

/**
 * SSM DescribeInstanceInformation over the simulator's instance registry, with the real
 * API's request limits and error types:
 *
 * - `Filters` (Key/Values): the keys below plus `tag:<key>` and `tag-key`; an unknown key
 *   is InvalidFilterKey, a bad PingStatus/PlatformTypes/ResourceType value
 *   InvalidInstanceInformationFilterValue, a malformed instance id InvalidInstanceId.
 *   Values within a filter are alternatives; filters must all match. Tag filters cannot be
 *   combined with other filter types (as documented for the real API).
 * - the legacy `InstanceInformationFilterList` (key/valueSet, no tags); not together with
 *   `Filters`.
 * - `MaxResults` 5..50 (default 10) and an opaque `NextToken` bound to the filters.
 *
 * With tag filters the page window is cut before the tags are matched, so a page may hold
 * fewer than MaxResults instances, or none, and still carry a NextToken: the real service
 * does this too, and clients must follow NextToken until it is absent.
 */

const DEFAULT_PAGE = 10;
const MIN_PAGE = 5;
const MAX_PAGE = 50;
const MAX_VALUES = 100;

type Field = (instance: ManagedInstance) => string | undefined;

/** Filter keys shared by both filter forms, and the instance field each one matches. */
const FIELD_FILTERS: Record<string, Field> = {
  InstanceIds: (i) => i.id,
  AgentVersion: (i) => i.agentVersion,
  PingStatus: (i) => i.pingStatus,
  PlatformTypes: (i) => i.platformType,
  ActivationIds: (i) => i.activationId,
  IamRole: (i) => i.iamRole,
  ResourceType: (i) => i.resourceType,
  AssociationStatus: () => undefined, // associations are not modelled
};

/** Allowed values, for the keys that have a fixed set. */
const ENUM_VALUES: Record<string, readonly string[]> = {
  PingStatus: PING_STATUSES,
  PlatformTypes: PLATFORM_TYPES,
  ResourceType: RESOURCE_TYPES,
};

interface Filter {
  key: string;
  values: readonly string[];
  matches: (instance: ManagedInstance) => boolean;
  isTag: boolean;
}

export function describeInstanceInformation(
  body: Record<string, unknown>,
  registry: InstanceRegistry,
): Record<string, unknown> {
  const pageSize = readMaxResults(body.MaxResults);
  const stringFilters = readList(body.Filters, 'filters');
  const legacyFilters = readList(body.InstanceInformationFilterList, 'instanceInformationFilterList');
  if (stringFilters.length > 0 && legacyFilters.length > 0) {
    throw new ApiError(
      'InvalidInstanceInformationFilterValue',
      400,
      'InstanceInformationFilterList and Filters cannot be used together; use Filters.',
    );
  }
  const filters = [
    ...stringFilters.map((raw, index) => parseStringFilter(raw, index)),
    ...legacyFilters.map((raw, index) => parseLegacyFilter(raw, index)),
  ];
  const tagFilters = filters.filter((f) => f.isTag);
  const otherFilters = filters.filter((f) => !f.isTag);
  if (tagFilters.length > 0 && otherFilters.length > 0) {
    throw new ApiError(
      'InvalidInstanceInformationFilterValue',
      400,
      "Tag filters can't be combined with other filter types.",
    );
  }
  const query = queryKey(filters);
  const offset = readNextToken(body.NextToken, query);
  const candidates = registry.list().filter((instance) => otherFilters.every((f) => f.matches(instance)));
  if (offset > candidates.length) throw invalidToken();
  const end = offset + pageSize;
  const page = candidates.slice(offset, end).filter((instance) => tagFilters.every((f) => f.matches(instance)));
  return {
    InstanceInformationList: page.map(describe),
    ...(end < candidates.length ? { NextToken: encodeToken(end, query) } : {}),
  };
}

function describe(instance: ManagedInstance): Record<string, unknown> {
  const hybrid = instance.resourceType === 'ManagedInstance';
  return {
    InstanceId: instance.id,
    PingStatus: instance.pingStatus,
    LastPingDateTime: epochSeconds(instance.lastPingDateTime),
    AgentVersion: instance.agentVersion,
    IsLatestVersion: true,
    PlatformType: instance.platformType,
    PlatformName: instance.platformName,
    PlatformVersion: instance.platformVersion,
    ResourceType: instance.resourceType,
    IPAddress: instance.ipAddress,
    ComputerName: instance.computerName,
    SourceId: instance.id,
    SourceType: hybrid ? 'AWS::SSM::ManagedInstance' : 'AWS::EC2::Instance',
    ...(instance.iamRole !== undefined ? { IamRole: instance.iamRole } : {}),
    ...(hybrid
      ? {
          ActivationId: instance.activationId,
          RegistrationDate: epochSeconds(instance.registrationDate),
          // The name given at activation; the simulator uses the Name tag.
          Name: instance.tags.Name ?? instance.computerName,
        }
      : {}),
  };
}

function parseStringFilter(raw: unknown, index: number): Filter {
  const entry = requireObject(raw, `filters.${index + 1}.member`);
  const key = entry.Key;
  if (typeof key !== 'string' || key.length === 0) {
    throw validation(`filters.${index + 1}.member.key`, 'Member must not be null');
  }
  const values = readValues(entry.Values, `filters.${index + 1}.member.values`);
  if (key === 'tag-key') {
    return { key, values, isTag: true, matches: (i) => values.some((v) => Object.hasOwn(i.tags, v)) };
  }
  if (key.startsWith('tag:') && key.length > 'tag:'.length) {
    const tagKey = key.slice('tag:'.length);
    return {
      key,
      values,
      isTag: true,
      matches: (i) => Object.hasOwn(i.tags, tagKey) && values.includes(i.tags[tagKey] as string),
    };
  }
  if (!Object.hasOwn(FIELD_FILTERS, key)) {
    throw new ApiError('InvalidFilterKey', 400, `The filter key ${key} is not valid.`);
  }
  return fieldFilter(key, values);
}

/** The legacy form: lower-case member names, an enum of keys, no tags. */
function parseLegacyFilter(raw: unknown, index: number): Filter {
  const path = `instanceInformationFilterList.${index + 1}.member`;
  const entry = requireObject(raw, path);
  const key = entry.key;
  if (typeof key !== 'string' || key.length === 0) throw validation(`${path}.key`, 'Member must not be null');
  const values = readValues(entry.valueSet, `${path}.valueSet`);
  if (!Object.hasOwn(FIELD_FILTERS, key)) {
    throw validation(
      `${path}.key`,
      `Member must satisfy enum value set: [${Object.keys(FIELD_FILTERS).join(', ')}]`,
      key,
    );
  }
  return fieldFilter(key, values);
}

function fieldFilter(key: string, values: readonly string[]): Filter {
  const allowed = ENUM_VALUES[key];
  const bad = allowed ? values.find((v) => !allowed.includes(v)) : undefined;
  if (bad !== undefined) {
    throw new ApiError(
      'InvalidInstanceInformationFilterValue',
      400,
      `${bad} is not a valid value for filter ${key}; valid values: ${allowed!.join(', ')}.`,
    );
  }
  if (key === 'InstanceIds') {
    const malformed = values.find((v) => !INSTANCE_ID_PATTERN.test(v));
    if (malformed !== undefined) throw new ApiError('InvalidInstanceId', 400, `Invalid instance id: ${malformed}`);
  }
  const field = FIELD_FILTERS[key] as Field;
  return {
    key,
    values,
    isTag: false,
    matches: (instance) => {
      const value = field(instance);
      return value !== undefined && values.includes(value);
    },
  };
}

function readMaxResults(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_PAGE;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ApiError('SerializationException', 400, 'MaxResults must be an integer.');
  }
  if (value < MIN_PAGE) throw validation('maxResults', `Member must have value greater than or equal to ${MIN_PAGE}`, value);
  if (value > MAX_PAGE) throw validation('maxResults', `Member must have value less than or equal to ${MAX_PAGE}`, value);
  return value;
}

function readList(value: unknown, name: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ApiError('SerializationException', 400, `${name} must be a list.`);
  return value;
}

function readValues(value: unknown, path: string): string[] {
  if (value === undefined || value === null) throw validation(path, 'Member must not be null');
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new ApiError('SerializationException', 400, `${path} must be a list of strings.`);
  }
  if (value.length < 1) throw validation(path, 'Member must have length greater than or equal to 1', '[]');
  if (value.length > MAX_VALUES) {
    throw validation(path, `Member must have length less than or equal to ${MAX_VALUES}`, `[${value.length} values]`);
  }
  if (value.some((v) => v.length === 0)) throw validation(path, 'Member must have length greater than or equal to 1');
  return value as string[];
}

function requireObject(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError('SerializationException', 400, `${path} must be an object.`);
  }
  return value as Record<string, unknown>;
}

/** The AWS JSON protocol's wording for constraint failures. */
function validation(path: string, constraint: string, value?: unknown): ApiError {
  const shown = value === undefined ? '' : ` '${String(value)}'`;
  return new ApiError(
    'ValidationException',
    400,
    `1 validation error detected: Value${shown} at '${path}' failed to satisfy constraint: ${constraint}`,
  );
}

/** Identifies the filter set, so a token from another query is refused. */
function queryKey(filters: readonly Filter[]): string {
  const canonical = filters.map((f) => [f.key, [...f.values].sort()]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url').slice(0, 16);
}

function encodeToken(offset: number, query: string): string {
  return Buffer.from(JSON.stringify({ o: offset, q: query })).toString('base64');
}

function readNextToken(value: unknown, query: string): number {
  if (value === undefined || value === null || value === '') return 0;
  if (typeof value !== 'string') throw invalidToken();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    throw invalidToken();
  }
  const token = decoded as { o?: unknown; q?: unknown } | null;
  if (!token || typeof token.o !== 'number' || !Number.isInteger(token.o) || token.o < 0 || token.q !== query) {
    throw invalidToken();
  }
  return token.o;
}

function invalidToken(): ApiError {
  return new ApiError('InvalidNextToken', 400, 'The specified token is not valid.');
}

/** AWS JSON 1.1 timestamps are epoch seconds. */
function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}
