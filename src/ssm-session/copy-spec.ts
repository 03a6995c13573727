import { UsageError } from './errors.ts';

/** One side of `cp`: a local path, or TARGET:PATH (an empty TARGET means: pick one). */
export type CopySide = { kind: 'local'; path: string } | { kind: 'remote'; target: string; path: string };

/** Target forms whose own text holds a colon: the path starts at the next one. */
const PREFIXED_TARGETS = ['ecs:', 'tag:'];

/**
 * Reads a `cp` argument the way scp does: a colon before any slash makes it TARGET:PATH
 * (`i-0123…:/var/log/x`, `Name=web:x`, `:x` to pick the target), a path with a slash
 * before its first colon is local (`./a:b`). `ecs:…` and `tag:…` targets have colons of
 * their own; their path starts at the next colon (`ecs:prod/TASK/web:/tmp/x`).
 */
export function parseCopySide(text: string): CopySide {
  const prefix = PREFIXED_TARGETS.find((p) => text.startsWith(p));
  if (prefix) {
    const colon = text.indexOf(':', prefix.length);
    if (colon === -1) throw new UsageError(`cp: ${JSON.stringify(text)} has no :PATH after the target (e.g. ${prefix}...:/tmp/file)`);
    return { kind: 'remote', target: text.slice(0, colon), path: text.slice(colon + 1) };
  }
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  // A drive letter (C:\ or C:/) is a local Windows path.
  if (colon === -1 || (slash !== -1 && slash < colon) || /^[A-Za-z]:[\\/]/.test(text)) return { kind: 'local', path: text };
  return { kind: 'remote', target: text.slice(0, colon), path: text.slice(colon + 1) };
}

/** `cp SOURCE DESTINATION` as a direction: exactly one side is on a target. */
export function copyDirection(
  source: string,
  destination: string,
): { direction: 'download' | 'upload'; target: string | undefined; remotePath: string; localPath: string } {
  const from = parseCopySide(source);
  const to = parseCopySide(destination);
  if (from.kind === 'remote' && to.kind === 'remote') throw new UsageError('cp: both sides are on targets; one must be a local path');
  if (from.kind === 'local' && to.kind === 'local') throw new UsageError('cp: neither side is TARGET:PATH (e.g. i-0123456789abcdef0:/tmp/file)');
  const remote = from.kind === 'remote' ? from : (to as Extract<CopySide, { kind: 'remote' }>);
  const local = from.kind === 'local' ? from : (to as Extract<CopySide, { kind: 'local' }>);
  if (local.path === '') throw new UsageError('cp: the local path is empty');
  return {
    direction: from.kind === 'remote' ? 'download' : 'upload',
    target: remote.target === '' ? undefined : remote.target,
    remotePath: remote.path,
    localPath: local.path,
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `65536`, `64k`, `8M`, `1G` (binary units) as bytes. */
export function parseSize(text: string, option: string): number {
  const match = /^(\d+)([kmg]?)i?b?$/i.exec(text.trim());
  const bytes = match ? Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? 1) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 4096 || bytes > 1024 ** 3) {
    throw new UsageError(`${option}: a size from 4K to 1G (e.g. 8M), not ${JSON.stringify(text)}`);
  }
  return bytes;
}
