import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CopyError, localError } from './errors.ts';
import { base64Lines, base64LinesLength, type ProtocolLine } from './output-parser.ts';
import { planRanges, rangeSizeFor, type Range } from './ranges.ts';
import { runRemote, writeInput } from './remote-run.ts';
import { BASE64_LINE, remoteCommands } from './remote-scripts.ts';
import { carryRanges, hashFileRange, hexHash, isSessionFailure, startCopy, type Copy, type CopyJob, type CopyOptions, type CopyResult } from './transfer.ts';

/** Bytes encoded per write to a terminal: a whole number of base64 lines (57 bytes make 76 characters). */
const INPUT_PIECE = 57 * 1024;

/**
 * Copies a local file to the target. A command session checks the destination (a
 * directory gets the file's name; free space; permissions) and makes a partial file next
 * to it (`.NAME.ssm-part`, the final size). Each range then goes through a terminal
 * session of its own (non-interactive sessions discard input): the terminal is made raw
 * and silent, the range is typed in as base64 lines of 76 characters, decoded and
 * written in place by `dd`, and the target's SHA-256 of what it wrote is checked. A last
 * command session checks the size and SHA-256 of the whole partial file on the target
 * and only then renames it over the destination; its SHA-256 is compared here too.
 *
 * An interrupted copy leaves the partial file on the target; the next run compares it
 * range by range with the local file and sends only what differs. Any other failure
 * removes it.
 */
export function upload(options: CopyOptions, label = options.target): Copy {
  return startCopy(options, label, runUpload);
}

async function runUpload(job: CopyJob): Promise<Omit<CopyResult, 'elapsedMs' | 'sessionsStarted'>> {
  const { options, marker, where, progress } = job;
  const file = await openSource(options.localPath);
  let partPath: string | undefined;
  try {
    const info = await file.stat();
    if (info.isDirectory()) throw new CopyError('is-directory', `${options.localPath}: is a directory (cp copies single files)`);
    if (!info.isFile()) throw new CopyError('not-regular-file', `${options.localPath}: not a regular file`);
    const size = info.size;
    const ranges = planRanges(size, rangeSizeFor(size, job.pool, options.rangeSize));
    progress.bytesTotal = size;
    progress.rangesTotal = ranges.length;
    const localHash = hashFileRange(file, 0, size);
    localHash.catch(() => undefined);

    const resume = options.resume !== false && ranges.length > 0;
    const prepared = await runRemote(job.endpoint, {
      command: remoteCommands.prepareDestination(
        marker,
        options.remotePath,
        size,
        path.basename(options.localPath),
        resume ? (ranges[0] as Range).blocks : 0,
        resume ? ranges.length : 0,
      ),
      marker,
      where,
      finalKind: 'OK',
      signal: job.abort.signal,
      onSession: job.track,
    });
    const said = (kind: string): ProtocolLine | undefined => prepared.find((line) => line.kind === kind);
    partPath = said('PART')?.rest;
    const destination = said('DEST')?.rest;
    if (!partPath || !destination) throw new CopyError('failed', `${where}: the target did not say where to write`);
    const remoteHashes = new Map(prepared.filter((line) => line.kind === 'RH').map((line) => [Number(line.fields[0]), line.fields[1] ?? '']));
    const part = partPath;
    await carryRanges(job, file, ranges, remoteHashes, (range) => sendRange(job, file, range, part));

    progress.stage = 'verifying';
    const sha256 = await localHash;
    const committed = await runRemote(job.endpoint, {
      command: remoteCommands.commit(marker, part, destination, size, sha256, (info.mode & 0o777).toString(8).padStart(4, '0')),
      marker,
      where,
      finalKind: 'OK',
      signal: job.abort.signal,
      onSession: job.track,
    });
    const remote = hexHash(committed.find((line) => line.kind === 'OK')?.fields[0], where);
    if (remote !== sha256) throw new CopyError('verification-failed', `${where}: the target reports SHA-256 ${remote}, the local file has ${sha256}`);
    return { path: destination, bytes: size, sha256, bytesResumed: progress.bytesResumed };
  } catch (err) {
    job.abort.abort();
    throw await keepOrRemove(job, err, partPath);
  } finally {
    await file.close().catch(() => undefined);
  }
}

/** One range typed into a terminal session as base64 lines; the target's hash of what it wrote must match. */
async function sendRange(job: CopyJob, file: FileHandle, range: Range, partPath: string): Promise<void> {
  const { marker, where, progress } = job;
  const hash = createHash('sha256');
  let sent = 0;
  try {
    const lines = await runRemote(job.endpoint, {
      command: remoteCommands.writeRange(marker, partPath, range.firstBlock, range.blocks, base64LinesLength(range.length, BASE64_LINE)),
      marker,
      where,
      finalKind: 'END',
      signal: job.abort.signal,
      onSession: job.track,
      input: async (stdin) => {
        const buffer = Buffer.allocUnsafe(INPUT_PIECE);
        while (sent < range.length) {
          const want = Math.min(INPUT_PIECE, range.length - sent);
          const { bytesRead } = await file.read(buffer, 0, want, range.offset + sent);
          if (bytesRead !== want) throw new CopyError('failed', `${job.options.localPath}: the file shrank during the copy`);
          const piece = buffer.subarray(0, bytesRead);
          hash.update(piece);
          await writeInput(stdin, base64Lines(piece, BASE64_LINE));
          sent += bytesRead;
          progress.bytesDone += bytesRead;
        }
      },
    });
    const written = hexHash(lines.find((line) => line.kind === 'END')?.fields[0], where);
    if (sent !== range.length || written !== hash.digest('hex')) {
      throw new CopyError('verification-failed', `${where}: bytes ${range.offset}-${range.offset + range.length - 1} arrived damaged`, { retryable: true });
    }
    progress.rangesDone++;
  } catch (err) {
    progress.bytesDone -= sent;
    throw err;
  }
}

async function openSource(localPath: string): Promise<FileHandle> {
  try {
    return await open(localPath, 'r');
  } catch (err) {
    throw localError(localPath, err);
  }
}

/**
 * After a failure: an interrupted copy, or one whose sessions kept failing, keeps the partial file on the target for a
 * resume; any other failure removes it (one more session), so nothing half-made stays.
 */
async function keepOrRemove(job: CopyJob, err: unknown, partPath: string | undefined): Promise<unknown> {
  if (partPath === undefined) return err;
  if (err instanceof CopyError && err.code === 'interrupted') {
    return new CopyError(
      'interrupted',
      `the copy was interrupted; the partial file ${partPath} is kept on the target: run the same command again to resume`,
    );
  }
  if (isSessionFailure(err)) {
    return new CopyError('failed', `${err.message}; the partial file ${partPath} is kept on the target: run the same command again to resume`);
  }
  await runRemote(job.endpoint, {
    command: remoteCommands.removePart(job.marker, partPath),
    marker: job.marker,
    where: job.where,
    finalKind: 'OK',
  }).catch(() => undefined);
  return err;
}
