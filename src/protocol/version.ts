/** Go's strconv.Atoi / ParseInt(s, 10, 64): an optional sign and decimal digits, within int64. */
function goAtoi(text: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const value = BigInt(text);
  return value >= -(2n ** 63n) && value < 2n ** 63n ? value : undefined;
}

const sign = (diff: bigint): number => (diff > 0n ? 1 : diff < 0n ? -1 : 0);

/**
 * Compares dotted versions the way the official client does (src/version/versionutil.go
 * in aws/session-manager-plugin; §7.3.2): both must have the same number of parts, each
 * an integer as Go's strconv.Atoi reads it. Returns undefined when they cannot be
 * compared, which callers treat as "not supported".
 */
export function compareVersions(a: string, b: string): number | undefined {
  if (a === '' || b === '') return undefined;
  const left = a.split('.');
  const right = b.split('.');
  if (left.length !== right.length) return undefined;
  for (let i = 0; i < left.length; i++) {
    const x = goAtoi(left[i] ?? '');
    const y = goAtoi(right[i] ?? '');
    if (x === undefined || y === undefined) return undefined;
    if (x !== y) return sign(x - y);
  }
  return 0;
}

/** True when `version` is strictly greater than `than` (false when not comparable). */
export function isVersionAbove(version: string, than: string): boolean {
  return compareVersions(version, than) === 1;
}

/** go-semver's Version.Set (github.com/coreos/go-semver): "X.Y.Z[-pre][+meta]". */
function parseSemver(text: string): { parts: bigint[]; preRelease: string } | undefined {
  const plus = text.indexOf('+');
  let rest = plus >= 0 ? text.slice(0, plus) : text;
  const dash = rest.indexOf('-');
  const preRelease = dash >= 0 ? rest.slice(dash + 1) : '';
  if (dash >= 0) rest = rest.slice(0, dash);
  const dotted = rest.split('.');
  if (dotted.length < 3) return undefined;
  // SplitN(…, 3): the third part keeps any further dots, and then does not parse.
  const parts = [dotted[0], dotted[1], dotted.slice(2).join('.')].map((p) => goAtoi(p ?? ''));
  if (parts.some((p) => p === undefined)) return undefined;
  return { parts: parts as bigint[], preRelease };
}

/** Go's string comparison: byte-wise on UTF-8. */
function compareBytes(a: string, b: string): number {
  return Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function comparePreRelease(a: string, b: string): number {
  if (a === '' && b !== '') return 1;
  if (b === '' && a !== '') return -1;
  const left = a.split('.');
  const right = b.split('.');
  for (let i = 0; ; i++) {
    if (i >= left.length) return i >= right.length ? 0 : -1;
    if (i >= right.length) return 1;
    const x = left[i] as string;
    const y = right[i] as string;
    const xi = /^[+-]?\d+$/.test(x) ? goAtoi(x) : undefined;
    const yi = /^[+-]?\d+$/.test(y) ? goAtoi(y) : undefined;
    if (xi !== undefined && yi !== undefined && xi !== yi) return sign(xi - yi);
    const text = compareBytes(x, y);
    if (text !== 0) return text;
  }
}

/**
 * The agent's version comparison, versionutil.Compare(this, other, strictSort=true)
 * (agent/versionutil/versionutil.go), which decides mux mode, smux keep-alive and the
 * separate-streams notice from the client's version:
 *
 * - when both are semver to go-semver (exactly "X.Y.Z", optionally -pre and +meta),
 *   semver order (build metadata ignored, a pre-release below its release);
 * - otherwise part by part: as integers when both parts are integers (strconv.Atoi),
 *   else as byte strings; when all compared parts are equal, more parts is greater.
 *
 * So a non-numeric part is not "low": `garbage` > `1.1.70` ("g" > "1"), and `` < `1`.
 */
export function compareAgentVersions(a: string, b: string): number {
  const left = parseSemver(a);
  const right = parseSemver(b);
  if (left && right) {
    for (let i = 0; i < 3; i++) {
      const diff = (left.parts[i] as bigint) - (right.parts[i] as bigint);
      if (diff !== 0n) return sign(diff);
    }
    return comparePreRelease(left.preRelease, right.preRelease);
  }
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < x.length && i < y.length; i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    const pi = goAtoi(p);
    const qi = goAtoi(q);
    if (pi !== undefined && qi !== undefined) {
      if (pi !== qi) return sign(pi - qi);
    } else {
      const text = compareBytes(p, q);
      if (text !== 0) return text;
    }
  }
  return Math.sign(x.length - y.length);
}
