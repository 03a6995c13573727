import { createHash } from 'node:crypto';

/**
 * The simulator's managed instances: what SSM DescribeInstanceInformation lists and what
 * StartSession checks a target against. Targets that are not registered keep working as
 * before (any well-formed id starts a session); a registered instance whose ping status is
 * not Online answers TargetNotConnected, as the real service does.
 */

export type PingStatus = 'Online' | 'ConnectionLost' | 'Inactive';
export type PlatformType = 'Linux' | 'Windows' | 'MacOS';
export type ResourceType = 'EC2Instance' | 'ManagedInstance';

export const PING_STATUSES: readonly PingStatus[] = ['Online', 'ConnectionLost', 'Inactive'];
export const PLATFORM_TYPES: readonly PlatformType[] = ['Linux', 'Windows', 'MacOS'];
export const RESOURCE_TYPES: readonly ResourceType[] = ['EC2Instance', 'ManagedInstance'];

/** EC2 ids have 8 or 17 hex digits, hybrid (`mi-`) ids 17 (the API's InstanceId pattern). */
export const INSTANCE_ID_PATTERN = /^(?:i-(?:[0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$/;

export interface InstanceSpec {
  id: string;
  /** EC2 / SSM tags, e.g. `{ Name: 'web', env: 'prod' }`. */
  tags?: Record<string, string>;
  /** Default Online. */
  pingStatus?: PingStatus;
  /** Default Linux. */
  platformType?: PlatformType;
  /** Default per platform, e.g. `Amazon Linux`. */
  platformName?: string;
  platformVersion?: string;
  /** Default: an EC2-style private DNS name derived from the IP address. */
  computerName?: string;
  /** Default: a 10.x.y.z address derived from the id. */
  ipAddress?: string;
  /** Default: the simulator's agent version. */
  agentVersion?: string;
  iamRole?: string;
}

/** A registered instance, as the fake SSM API reports it. */
export interface ManagedInstance {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly pingStatus: PingStatus;
  readonly platformType: PlatformType;
  readonly platformName: string;
  readonly platformVersion: string;
  readonly computerName: string;
  readonly ipAddress: string;
  readonly agentVersion: string;
  readonly iamRole: string | undefined;
  readonly resourceType: ResourceType;
  /** Hybrid activations only. */
  readonly activationId: string | undefined;
  readonly registrationDate: Date;
  readonly lastPingDateTime: Date;
}

/** The instances a simulator starts with (unless `instances` is given). */
export const DEFAULT_INSTANCES: readonly InstanceSpec[] = [
  { id: 'i-0123456789abcdef0', tags: { Name: 'sim-web', Environment: 'dev', Role: 'web' } },
  { id: 'i-0a1b2c3d4e5f60718', tags: { Name: 'sim-worker', Environment: 'dev', Role: 'worker' } },
  { id: 'i-0a1b2c3d4e5f60719', tags: { Name: 'sim-worker', Environment: 'dev', Role: 'worker' } },
  {
    id: 'mi-0123456789abcdef1',
    tags: { Name: 'sim-onprem', Environment: 'lab' },
    platformName: 'Ubuntu',
    platformVersion: '24.04',
    computerName: 'onprem-01',
  },
  { id: 'i-0c1d2e3f4a5b60000', tags: { Name: 'sim-stopped', Environment: 'dev' }, pingStatus: 'ConnectionLost' },
];

const DEFAULT_PLATFORM: Record<PlatformType, { name: string; version: string }> = {
  Linux: { name: 'Amazon Linux', version: '2023' },
  Windows: { name: 'Microsoft Windows Server 2022 Datacenter', version: '10.0.20348' },
  MacOS: { name: 'macOS', version: '14.5' },
};

export class InstanceRegistry {
  private readonly byId = new Map<string, ManagedInstance>();
  private readonly agentVersion: string;

  constructor(agentVersion: string, specs: readonly InstanceSpec[] = []) {
    this.agentVersion = agentVersion;
    for (const spec of specs) this.add(spec);
  }

  /** Registers an instance, replacing any with the same id (it keeps its place in the list). */
  add(spec: InstanceSpec): ManagedInstance {
    if (!INSTANCE_ID_PATTERN.test(spec.id)) throw new Error(`not an instance id: ${spec.id}`);
    const previous = this.byId.get(spec.id);
    const platformType = spec.platformType ?? 'Linux';
    const ipAddress = spec.ipAddress ?? addressFor(spec.id);
    const hybrid = spec.id.startsWith('mi-');
    const now = new Date();
    const instance: ManagedInstance = {
      id: spec.id,
      tags: { ...spec.tags },
      pingStatus: spec.pingStatus ?? 'Online',
      platformType,
      platformName: spec.platformName ?? DEFAULT_PLATFORM[platformType].name,
      platformVersion: spec.platformVersion ?? DEFAULT_PLATFORM[platformType].version,
      computerName: spec.computerName ?? `ip-${ipAddress.replaceAll('.', '-')}.ec2.internal`,
      ipAddress,
      agentVersion: spec.agentVersion ?? this.agentVersion,
      iamRole: spec.iamRole ?? (hybrid ? 'SSMServiceRole' : undefined),
      resourceType: hybrid ? 'ManagedInstance' : 'EC2Instance',
      activationId: hybrid ? activationFor(spec.id) : undefined,
      registrationDate: previous?.registrationDate ?? new Date(now.getTime() - 86_400_000),
      // An instance that is not Online stopped pinging a while ago.
      lastPingDateTime: spec.pingStatus && spec.pingStatus !== 'Online' ? new Date(now.getTime() - 3_600_000) : now,
    };
    this.byId.set(spec.id, instance);
    return instance;
  }

  remove(id: string): boolean {
    return this.byId.delete(id);
  }

  get(id: string): ManagedInstance | undefined {
    return this.byId.get(id);
  }

  /** Every registered instance, in registration order. */
  list(): ManagedInstance[] {
    return [...this.byId.values()];
  }

  /** Changes an instance's ping status; an unknown id is registered with just that status. */
  setPingStatus(id: string, pingStatus: PingStatus): ManagedInstance {
    const current = this.byId.get(id);
    if (!current) return this.add({ id, pingStatus });
    const updated: ManagedInstance = {
      ...current,
      pingStatus,
      // A lost instance stops pinging; an online one has just pinged.
      lastPingDateTime: pingStatus === 'Online' ? new Date() : current.lastPingDateTime,
    };
    this.byId.set(id, updated);
    return updated;
  }

  clear(): void {
    this.byId.clear();
  }
}

/**
 * Parses the CLI form `ID[:Key=Value,Key=Value...]`, e.g. `i-0abc12345678def01:Name=web,env=prod`.
 * Tag values may contain `=` and `:` (only the first `=` of each pair splits).
 */
export function parseInstanceSpec(text: string): InstanceSpec {
  const colon = text.indexOf(':');
  const id = colon < 0 ? text : text.slice(0, colon);
  if (!INSTANCE_ID_PATTERN.test(id)) throw new Error(`not an instance id: ${JSON.stringify(id)}`);
  const tags: Record<string, string> = {};
  if (colon >= 0) {
    for (const pair of text.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      if (!key) throw new Error(`empty tag key in ${JSON.stringify(text)}`);
      tags[key] = eq < 0 ? '' : pair.slice(eq + 1);
    }
  }
  return { id, tags };
}

/** A stable private address per id, so listings do not change between runs. */
function addressFor(id: string): string {
  const digest = createHash('sha256').update(id).digest();
  return `10.${digest[0]}.${digest[1]}.${1 + ((digest[2] ?? 0) % 254)}`;
}

function activationFor(id: string): string {
  const hex = createHash('sha256').update(`activation/${id}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
