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

/** Error numbers both ends report (the scripts' `ERR` names are errno names), as codes and words; `{where}` is the disk's side. */
const ERRNO: Record<string, [CopyErrorCode, string]> = {
  ENOENT: ['not-found', 'no such file or directory'],
  ENOTDIR: ['not-found', 'not a directory'],
  EISDIR: ['is-directory', 'is a directory (cp copies single files)'],
  ENOTREG: ['not-regular-file', 'not a regular file'],
  EACCES: ['permission-denied', 'permission denied'],
  EPERM: ['permission-denied', 'operation not permitted'],
  ENOSPC: ['disk-full', 'no space left on the {where} disk'],
  EDQUOT: ['disk-full', 'disk quota exceeded on the {where} disk'],
  EROFS: ['read-only', 'read-only file system'],
  EIO: ['failed', 'input/output error'],
};

/** What only the target-side scripts report. */
const SCRIPT_ERRORS: Record<string, [CopyErrorCode, string]> = {
  ENOHASH: ['missing-tool', 'the target has no sha256sum, shasum or openssl to check the copy with'],
  ENOBASE64: ['missing-tool', 'the target has no base64 command'],
  ESIZE: ['verification-failed', 'the copy on the target has the wrong size'],
  EHASH: ['verification-failed', "the copy on the target has another SHA-256 than the local file's"],
};

function known(name: string, side: 'target' | 'local'): [CopyErrorCode, string] | undefined {
  const found = ERRNO[name] ?? (side === 'target' ? SCRIPT_ERRORS[name] : undefined);
  return found && [found[0], found[1].replace('{where}', side)];
}

/** A target-side `ERR` line as a CopyError about `where` (e.g. `i-0123:/var/log/x`). */
export function remoteError(where: string, fields: readonly string[]): CopyError {
  const [name = 'EIO', ...detail] = fields;
  const [code, text] = known(name, 'target') ?? ['failed', `error ${name}`];
  const extra = code === 'failed' && detail.length > 0 ? `: ${detail.join(' ')}` : '';
  return new CopyError(code, `${where}: ${text}${extra}`);
}

/** A local file system error as a CopyError about `where`. */
export function localError(where: string, err: unknown): CopyError {
  const errno = (err as NodeJS.ErrnoException).code;
  const found = errno && errno !== 'EIO' ? known(errno, 'local') : undefined;
  if (found) return new CopyError(found[0], `${where}: ${found[1]}`);
  return new CopyError('failed', `${where}: ${err instanceof Error ? err.message : String(err)}`);
}
