/** Why a copy failed; the message is for users as it is (one line, no stack, no token). */
export type CopyErrorCode =
  | 'not-found'
  | 'is-directory'
  | 'not-regular-file'
  | 'permission-denied'
  | 'disk-full'
  | 'read-only'
  | 'unsupported-target' // Windows, or no sh on the target
  | 'missing-tool' // no base64, no SHA-256 tool on the target
  | 'verification-failed' // size or SHA-256 differ between the two ends
  | 'interrupted' // cancelled here; the partial copy is kept for a resume
  | 'invalid-argument'
  | 'failed'; // anything else (sessions that cannot start, the target's own errors)

export class CopyError extends Error {
  readonly code: CopyErrorCode;
  /** A failure of a session rather than of the file: trying the same range again may work. */
  readonly retryable: boolean;

  constructor(code: CopyErrorCode, message: string, options: { retryable?: boolean } = {}) {
    super(message);
    this.name = 'CopyError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** What the target-side scripts report (`ERR <code>`), as error codes and words. */
const REMOTE_CODES: Record<string, { code: CopyErrorCode; text: string }> = {
  ENOENT: { code: 'not-found', text: 'no such file or directory' },
  EISDIR: { code: 'is-directory', text: 'is a directory (cp copies single files)' },
  ENOTREG: { code: 'not-regular-file', text: 'not a regular file' },
  EACCES: { code: 'permission-denied', text: 'permission denied' },
  ENOSPC: { code: 'disk-full', text: 'no space left on the target disk' },
  EDQUOT: { code: 'disk-full', text: 'disk quota exceeded on the target' },
  EROFS: { code: 'read-only', text: 'read-only file system' },
  ENOHASH: { code: 'missing-tool', text: 'the target has no sha256sum, shasum or openssl to check the copy with' },
  ENOBASE64: { code: 'missing-tool', text: 'the target has no base64 command' },
  ESIZE: { code: 'verification-failed', text: 'the copy on the target has the wrong size' },
  EHASH: { code: 'verification-failed', text: "the copy on the target has another SHA-256 than the local file's" },
  EIO: { code: 'failed', text: 'input/output error' },
};

/** A target-side `ERR` line as a CopyError about `where` (e.g. `i-0123:/var/log/x`). */
export function remoteError(where: string, fields: readonly string[]): CopyError {
  const [name = 'EIO', ...detail] = fields;
  const known = REMOTE_CODES[name] ?? { code: 'failed' as const, text: `error ${name}` };
  const extra = known.code === 'failed' && detail.length > 0 ? `: ${detail.join(' ')}` : '';
  return new CopyError(known.code, `${where}: ${known.text}${extra}`);
}

/** A local file system error as a CopyError about `where`. */
export function localError(where: string, err: unknown): CopyError {
  const errno = (err as NodeJS.ErrnoException).code;
  const codes: Record<string, [CopyErrorCode, string]> = {
    ENOENT: ['not-found', 'no such file or directory'],
    ENOTDIR: ['not-found', 'not a directory'],
    EISDIR: ['is-directory', 'is a directory (cp copies single files)'],
    EACCES: ['permission-denied', 'permission denied'],
    EPERM: ['permission-denied', 'operation not permitted'],
    ENOSPC: ['disk-full', 'no space left on the local disk'],
    EDQUOT: ['disk-full', 'disk quota exceeded'],
    EROFS: ['read-only', 'read-only file system'],
  };
  const known = errno ? codes[errno] : undefined;
  if (known) return new CopyError(known[0], `${where}: ${known[1]}`);
  return new CopyError('failed', `${where}: ${err instanceof Error ? err.message : String(err)}`);
}
