/**
 * Compares dotted numeric versions the way the official client does (§7.3.2): both must
 * have the same number of parts, each an integer. Returns undefined when they cannot be
 * compared, which callers treat as "not supported".
 */
export function compareVersions(a: string, b: string): number | undefined {
  const left = a.split('.');
  const right = b.split('.');
  if (left.length !== right.length) return undefined;
  for (let i = 0; i < left.length; i++) {
    const x = left[i] ?? '';
    const y = right[i] ?? '';
    if (!/^\d+$/.test(x) || !/^\d+$/.test(y)) return undefined;
    const diff = Number(x) - Number(y);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/** True when `version` is strictly greater than `than` (false when not comparable). */
export function isVersionAbove(version: string, than: string): boolean {
  return compareVersions(version, than) === 1;
}

/**
 * The agent's comparison of ClientVersion (§7.3.2): missing parts count as zero and a
 * non-numeric part sorts low. Used by the simulator to decide exactly as the agent does.
 */
export function compareVersionsLenient(a: string, b: string): number {
  const parse = (v: string) => v.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : -1));
  const left = a === '' ? [-1] : parse(a);
  const right = b === '' ? [-1] : parse(b);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}
