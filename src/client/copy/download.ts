import { createHash } from 'node:crypto';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CopyError, localError } from './errors.ts';
import type { ProtocolLine } from './output-parser.ts';
import { planRanges, rangeSizeFor, type Range } from './ranges.ts';
import { runRemote } from './remote-run.ts';
import { BLOCK_SIZE, remoteCommands, type RawMode } from './remote-scripts.ts';
import { carryRanges, hashFileRange, hexHash, isSessionFailure, modeFromLs, startCopy, type Copy, type CopyJob, type CopyOptions, type CopyResult } from './transfer.ts';

/**
 * Copies a file from the target: one session checks it (size, mode, then its SHA-256,
 * read while the data flows), and each range of it comes through a session of its own
 * (at most `pool` at once), as base64, into a partial file next to the destination
 * (`.NAME.ssm-part`), written in place. Each range is checked against the SHA-256 the
 * target computed of it; the whole file against the target's SHA-256 and size; only then
 * is the partial file renamed to its name. A range whose session fails part-way is tried
 * again from where it stopped (whole blocks), the bytes kept checked with the range's hash. An interrupted copy leaves the partial file;
 * the next run compares it range by range with the source and fetches only what differs.
 */
export function download(options: CopyOptions, label = options.target): Copy {
  return startCopy(options, label, runDownload);
}

interface SourceInfo {
  size: number;
  mode: number | undefined;
}

async function runDownload(job: CopyJob): Promise<Omit<CopyResult, 'elapsedMs' | 'sessionsStarted'>> {
  const { options, marker, where, progress } = job;
  if (options.remotePath === '' || options.remotePath.endsWith('/')) {
    throw new CopyError('invalid-argument', `${where}: name a file to copy (cp copies single files)`);
  }
  const destination = await localDestination(options.localPath, path.posix.basename(options.remotePath));
  const partPath = path.join(path.dirname(destination), `.${path.basename(destination)}.ssm-part`);
  const existing = options.resume === false ? undefined : await stat(partPath).catch(() => undefined);
  const planFor = (size: number): Range[] => planRanges(size, rangeSizeFor(size, job.pool, options.rangeSize));
  // A partial file has the source's full size; the same plan gives comparable range hashes.
  const resumePlan = existing?.isFile() && existing.size > 0 ? planFor(existing.size) : undefined;

  const remoteHashes = new Map<number, string>();
  let sourceInfo: (info: SourceInfo) => void = () => undefined;
  const info = new Promise<SourceInfo>((resolve) => (sourceInfo = resolve));
  let hashesIn: () => void = () => undefined;
  const allHashes = new Promise<void>((resolve) => (hashesIn = resolve));
  const probe = runRemote(job.endpoint, {
    command: remoteCommands.statSource(marker, options.remotePath, resumePlan?.[0]?.blocks ?? 0, resumePlan?.length ?? 0),
    marker,
    where,
    finalKind: 'SUM',
    signal: job.abort.signal,
    onSession: job.track,
    onLine: (line: ProtocolLine) => {
      if (line.kind === 'STAT') sourceInfo({ size: Number(line.fields[0]), mode: modeFromLs(line.fields[1]) });
      if (line.kind === 'RH') {
        remoteHashes.set(Number(line.fields[0]), line.fields[1] ?? '');
        if (remoteHashes.size === resumePlan?.length) hashesIn();
      }
    },
  });
  probe.catch(() => undefined);
  const source = await Promise.race([
    info,
    probe.then((): never => {
      throw failed(where, 'the target did not describe the file');
    }),
  ]);
  if (!Number.isSafeInteger(source.size) || source.size < 0) throw new CopyError('failed', `${where}: the target sent no file size`);

  const ranges = planFor(source.size);
  progress.bytesTotal = source.size;
  progress.rangesTotal = ranges.length;
  const file = await openPart(partPath, existing !== undefined);
  try {
    await file.truncate(source.size).catch((err: unknown) => {
      throw localError(partPath, err);
    });
    // A partial file of the same size is compared range by range with the source.
    const resuming = resumePlan !== undefined && existing?.size === source.size;
    if (resuming) await Promise.race([allHashes, probe]);
    // Bytes of a range that a failed attempt left in place (whole blocks from its start): the next attempt fetches the rest.
    const kept = new Map<number, number>();
    await carryRanges(job, file, ranges, resuming ? remoteHashes : new Map(), (range, attempt) => fetchRange(job, file, range, attempt, destination, kept));
    progress.stage = 'verifying';
    const sha256 = hexHash((await probe).find((line) => line.kind === 'SUM')?.fields[0], where);
    const { size } = await file.stat();
    const local = await hashFileRange(file, 0, size);
    if (size !== source.size || local !== sha256) {
      throw new CopyError(
        'verification-failed',
        `${where}: the copy does not match the file on the target (${size} bytes, SHA-256 ${local}; the target has ${source.size} bytes, ${sha256}); did it change during the copy?`,
      );
    }
    if (source.mode !== undefined) await file.chmod(source.mode & ~process.umask());
    await file.sync();
    await file.close();
    await rename(partPath, destination).catch((err: unknown) => {
      throw localError(destination, err);
    });
    return { path: destination, bytes: size, sha256, bytesResumed: progress.bytesResumed };
  } catch (err) {
    job.abort.abort();
    await file.close().catch(() => undefined);
    await probe.catch(() => undefined);
    throw await keepOrRemove(err, partPath);
  }
}

/** Decoded data is written in pieces of about this size (one write per frame would cost more than the decoding). */
const WRITE_PIECE = 256 * 1024;

/**
 * One range (or, tried again, what an earlier attempt did not bring: `kept` bytes are in
 * place) written into the partial file at its offset, then checked: what came against the
 * SHA-256 the target computed of it, and, when bytes were kept, the whole range against
 * the target's hash of it (RH 0).
 */
async function fetchRange(job: CopyJob, file: FileHandle, range: Range, attempt: number, destination: string, kept: Map<number, number>): Promise<void> {
  const { marker, where, progress } = job;
  // Raw bytes on the first try (through a container's terminal once the script has made it
  // raw); base64 when trying a range again.
  const raw: RawMode = attempt > 1 ? 'base64' : job.endpoint.target.startsWith('ecs:') ? 'tty' : 'raw';
  const skip = kept.get(range.index) ?? 0;
  const offset = range.offset + skip;
  const length = range.length - skip;
  const hash = createHash('sha256');
  let received = 0;
  let flushed = 0;
  let held: Buffer[] = [];
  const flush = async (): Promise<void> => {
    const data = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held);
    held = [];
    const at = offset + flushed;
    flushed += data.length;
    await file.write(data, 0, data.length, at).catch((err: unknown) => {
      throw localError(destination, err);
    });
  };
  const bytes = `bytes ${range.offset}-${range.offset + range.length - 1}`;
  try {
    const lines = await runRemote(job.endpoint, {
      command: remoteCommands.readRange(
        marker,
        job.options.remotePath,
        range.firstBlock + skip / BLOCK_SIZE,
        range.blocks - skip / BLOCK_SIZE,
        length,
        raw,
        skip > 0 ? { firstBlock: range.firstBlock, blocks: range.blocks } : undefined,
      ),
      marker,
      where,
      finalKind: 'END',
      signal: job.abort.signal,
      onSession: job.track,
      onData: (chunk) => {
        if (received + chunk.length > length) throw new CopyError('failed', `${where}: more data than the range holds (did the file grow?)`, { retryable: true });
        hash.update(chunk);
        held.push(chunk);
        received += chunk.length;
        progress.bytesDone += chunk.length;
        return received - flushed >= WRITE_PIECE ? flush() : undefined;
      },
    });
    if (received > flushed) await flush();
    const expected = hexHash(lines.find((line) => line.kind === 'END')?.fields[0], where);
    if (received !== length || hash.digest('hex') !== expected) {
      throw new CopyError('verification-failed', `${where}: ${bytes} arrived damaged or short`, { retryable: true });
    }
    if (skip > 0) {
      const whole = hexHash(lines.find((line) => line.kind === 'RH')?.fields[1], where);
      if ((await hashFileRange(file, range.offset, range.length)) !== whole) {
        throw new CopyError('verification-failed', `${where}: ${bytes} arrived damaged`, { retryable: true });
      }
    }
    kept.delete(range.index);
    progress.rangesDone++;
  } catch (err) {
    if (err instanceof CopyError && err.code === 'failed' && err.retryable) {
      // The session failed, not the data: what was written stays for the next attempt, in
      // whole blocks (checked then against the whole range's hash).
      // (Never all of it: an attempt always fetches at least one block.)
      const keep = Math.min(skip + Math.floor(flushed / BLOCK_SIZE) * BLOCK_SIZE, Math.floor((range.length - 1) / BLOCK_SIZE) * BLOCK_SIZE);
      kept.set(range.index, keep);
      progress.bytesDone -= received - (keep - skip);
    } else {
      kept.delete(range.index);
      progress.bytesDone -= received + skip;
    }
    throw err;
  }
}

/** The destination file: LOCAL itself, or LOCAL/NAME when LOCAL is a directory. */
async function localDestination(local: string, name: string): Promise<string> {
  const found = await stat(local).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && !local.endsWith(path.sep) && !local.endsWith('/')) return undefined;
    throw localError(local, err);
  });
  const destination = found?.isDirectory() ? path.join(local, name) : local;
  const directory = await stat(path.dirname(path.resolve(destination))).catch((err: unknown) => {
    throw localError(path.dirname(destination), err);
  });
  if (!directory.isDirectory()) throw new CopyError('not-found', `${path.dirname(destination)}: not a directory`);
  const target = await stat(destination).catch(() => undefined);
  if (target?.isDirectory()) throw new CopyError('is-directory', `${destination}: is a directory`);
  return destination;
}

async function openPart(partPath: string, exists: boolean): Promise<FileHandle> {
  try {
    return await open(partPath, exists ? 'r+' : 'w+', 0o600);
  } catch (err) {
    throw localError(partPath, err);
  }
}

/**
 * After a failure: an interrupted copy, or one whose sessions kept failing, keeps its partial file (the next run resumes it);
 * any other failure removes it, so nothing half-made is left behind.
 */
async function keepOrRemove(err: unknown, partPath: string): Promise<unknown> {
  if (err instanceof CopyError && err.code === 'interrupted') {
    return new CopyError('interrupted', `the copy was interrupted; the partial file ${partPath} is kept: run the same command again to resume`);
  }
  if (isSessionFailure(err)) return new CopyError('failed', `${err.message}; the partial file ${partPath} is kept: run the same command again to resume`);
  await rm(partPath, { force: true }).catch(() => undefined);
  return err;
}

function failed(where: string, what: string): CopyError {
  return new CopyError('failed', `${where}: ${what}`, { retryable: true });
}
