import { randomBytes, createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { targetPlatform } from '../targets.ts';
import type { Session, SessionRunOptions } from '../session.ts';
import { CopyError } from './errors.ts';
import { forEachRange, type Range } from './ranges.ts';
import type { CopyEndpoint } from './remote-run.ts';

export interface CopyOptions extends SessionRunOptions {
  /** What StartSession takes: i-…, mi-…, or ecs:CLUSTER_TASK_RUNTIMEID (see resolveTarget). */
  target: string;
  /** The file on the target; relative paths are relative to the session user's home directory. */
  remotePath: string;
  /** The local file, or a directory to copy into. */
  localPath: string;
  /** Sessions at most at once, one range each (default 8). */
  pool?: number;
  /** Bytes per range (rounded up to 4 KiB; default: about the file size over the pool, 1 to 16 MiB). */
  rangeSize?: number;
  /** Reuse a partial copy left by an interrupted run (default true). */
  resume?: boolean;
  /** Aborting interrupts the copy; the partial copy is kept for a resume. */
  signal?: AbortSignal;
}

export type CopyStage = 'checking' | 'transferring' | 'verifying' | 'done';

export interface CopyProgress {
  stage: CopyStage;
  /** The file's size once known (0 before). */
  bytesTotal: number;
  /** Bytes carried so far, plus those a resume found already in place. */
  bytesDone: number;
  /** Bytes a resume found already in place (not carried again). */
  bytesResumed: number;
  rangesTotal: number;
  rangesDone: number;
  /** Sessions running now. */
  sessions: number;
  sessionsStarted: number;
}

export interface CopyResult {
  /** Where the file is now (the destination, resolved: a directory gets the source's name). */
  path: string;
  bytes: number;
  sha256: string;
  bytesResumed: number;
  sessionsStarted: number;
  elapsedMs: number;
}

/**
 * A running copy. Events: 'retry' (Range, CopyError) when a range is tried again,
 * 'resumed' (bytes) when a partial copy was reused. `done` rejects with a CopyError.
 */
export interface Copy extends EventEmitter {
  readonly progress: Readonly<CopyProgress>;
  readonly done: Promise<CopyResult>;
  /** Interrupts the copy (as the signal does); `done` rejects with code `interrupted`. */
  cancel(): void;
}

export const DEFAULT_POOL = 8;
/** Local file reads and hashing go in pieces of this size. */
const READ_PIECE = 1024 * 1024;

/** What the direction-specific code works with. */
export interface CopyJob {
  options: CopyOptions;
  endpoint: CopyEndpoint;
  pool: number;
  /** Tags the protocol lines of this copy's scripts. */
  marker: string;
  /** `target:path`, for messages. */
  where: string;
  progress: CopyProgress;
  /** Aborted on cancel and on the first fatal failure: every session of the copy ends. */
  abort: AbortController;
  emitter: EventEmitter;
  /** Counts a session of the copy while it runs. */
  track(session: Session): void;
}

class CopyTransfer extends EventEmitter implements Copy {
  readonly progress: CopyProgress = {
    stage: 'checking',
    bytesTotal: 0,
    bytesDone: 0,
    bytesResumed: 0,
    rangesTotal: 0,
    rangesDone: 0,
    sessions: 0,
    sessionsStarted: 0,
  };
  readonly done: Promise<CopyResult>;
  private readonly abort = new AbortController();

  constructor(options: CopyOptions, label: string, run: (job: CopyJob) => Promise<Omit<CopyResult, 'elapsedMs' | 'sessionsStarted'>>) {
    super();
    const started = performance.now();
    const onAbort = (): void => this.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const { target, aws, logger, liveness, stallTimeoutMs } = options;
    const job: CopyJob = {
      options,
      endpoint: { target, run: { ...(aws ? { aws } : {}), ...(logger ? { logger } : {}), ...(liveness ? { liveness } : {}), ...(stallTimeoutMs ? { stallTimeoutMs } : {}) } },
      pool: Math.max(1, Math.floor(options.pool ?? DEFAULT_POOL)),
      marker: randomBytes(6).toString('hex'),
      where: `${label}:${options.remotePath}`,
      progress: this.progress,
      abort: this.abort,
      emitter: this,
      track: (session) => {
        this.progress.sessions++;
        this.progress.sessionsStarted++;
        void session.done.then(() => this.progress.sessions--);
      },
    };
    if (options.signal?.aborted) this.abort.abort();
    this.done = (async () => {
      try {
        if (/[\r\n]/.test(options.remotePath)) throw new CopyError('invalid-argument', 'remote paths with line breaks are not supported');
        const platform = await targetPlatform(target, aws).catch((err: unknown) => {
          throw new CopyError('failed', err instanceof Error ? err.message : String(err));
        });
        if (platform === 'Windows') {
          throw new CopyError('unsupported-target', `${label} is a Windows target: cp works with Linux and macOS targets (it needs sh)`);
        }
        const result = await run(job);
        this.progress.stage = 'done';
        return { ...result, sessionsStarted: this.progress.sessionsStarted, elapsedMs: performance.now() - started };
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
    })();
    this.done.catch(() => undefined); // the caller's business; never an unhandled rejection here
  }

  cancel(): void {
    this.abort.abort();
  }
}

/** Starts a copy run by `run` (download or upload). */
export function startCopy(
  options: CopyOptions,
  label: string,
  run: (job: CopyJob) => Promise<Omit<CopyResult, 'elapsedMs' | 'sessionsStarted'>>,
): Copy {
  return new CopyTransfer(options, label, run);
}

/** SHA-256 (hex) of `length` bytes of an open file from `offset`. */
export async function hashFileRange(file: FileHandle, offset: number, length: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(READ_PIECE, Math.max(1, length)));
  for (let done = 0; done < length; ) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, length - done), offset + done);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    done += bytesRead;
  }
  return hash.digest('hex');
}

/** The ranges whose bytes are already in place: their hash on the other end matches ours. */
export async function rangesInPlace(file: FileHandle, ranges: readonly Range[], remoteHashes: ReadonlyMap<number, string>): Promise<Set<number>> {
  const done = new Set<number>();
  for (const range of ranges) {
    const remote = remoteHashes.get(range.index);
    if (remote !== undefined && remote === (await hashFileRange(file, range.offset, range.length))) done.add(range.index);
  }
  return done;
}

/** Reads the SHA-256 hex of a protocol field, or fails. */
export function hexHash(value: string | undefined, where: string): string {
  if (value && /^[0-9a-f]{64}$/.test(value)) return value;
  throw new CopyError('failed', `${where}: the target sent no SHA-256 (${value ?? 'nothing'})`);
}

/** `-rwxr-xr-x` (ls -l) as 0o755; undefined when it cannot be read. */
export function modeFromLs(text: string | undefined): number | undefined {
  if (!text || !/^.[r-][w-][xsS-][r-][w-][xsS-][r-][w-][xtT-]/.test(text)) return undefined;
  let mode = 0;
  for (let i = 0; i < 9; i++) if (!'-ST'.includes(text[i + 1] as string)) mode |= 1 << (8 - i);
  return mode;
}

/** Sessions that kept failing (not the file, not a refusal): a later run may well get through. */
export function isSessionFailure(err: unknown): err is CopyError {
  return err instanceof CopyError && err.code === 'failed' && err.retryable;
}

/**
 * The ranges left to carry: those whose SHA-256 on the other end (`remoteHashes`, from a
 * partial copy) matches the local bytes count as done (and 'resumed' says how much that
 * is); the others go through `work`, at most `job.pool` at once, retried as forEachRange
 * does ('retry' for each).
 */
export async function carryRanges(
  job: CopyJob,
  file: FileHandle,
  ranges: readonly Range[],
  remoteHashes: ReadonlyMap<number, string>,
  work: (range: Range, attempt: number) => Promise<void>,
): Promise<void> {
  const { progress } = job;
  const inPlace = remoteHashes.size > 0 ? await rangesInPlace(file, ranges, remoteHashes) : new Set<number>();
  for (const range of ranges) {
    if (!inPlace.has(range.index)) continue;
    progress.bytesResumed += range.length;
    progress.rangesDone++;
  }
  progress.bytesDone = progress.bytesResumed;
  if (progress.bytesResumed > 0) job.emitter.emit('resumed', progress.bytesResumed);
  progress.stage = 'transferring';
  await forEachRange(
    ranges.filter((range) => !inPlace.has(range.index)),
    job.pool,
    work,
    { abort: job.abort, onRetry: (range, error) => job.emitter.emit('retry', range, error) },
  );
}
