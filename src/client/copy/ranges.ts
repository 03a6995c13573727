import { BLOCK_SIZE } from './remote-scripts.ts';
import { CopyError } from './errors.ts';

/** A piece of the file carried by one session. Offsets are whole blocks. */
export interface Range {
  index: number;
  offset: number;
  length: number;
  firstBlock: number;
  blocks: number;
}

const MiB = 1024 * 1024;
/** Automatic range sizes stay between these: big enough that starting a session is cheap next to it, small enough to resume. */
export const MIN_AUTO_RANGE = 1 * MiB;
export const MAX_AUTO_RANGE = 16 * MiB;
/** Attempts per range before the copy fails (sessions that drop, data that fails its check). */
export const RANGE_ATTEMPTS = 3;

/** The range size for a file: `requested` rounded up to whole blocks, else about one range per session. */
export function rangeSizeFor(size: number, pool: number, requested?: number): number {
  const wanted = requested ?? Math.min(MAX_AUTO_RANGE, Math.max(MIN_AUTO_RANGE, Math.ceil(size / pool)));
  return Math.max(1, Math.ceil(wanted / BLOCK_SIZE)) * BLOCK_SIZE;
}

/** The ranges of a file of `size` bytes (none for an empty file). */
export function planRanges(size: number, rangeSize: number): Range[] {
  const blocks = rangeSize / BLOCK_SIZE;
  const ranges: Range[] = [];
  for (let offset = 0, index = 0; offset < size; offset += rangeSize, index++) {
    ranges.push({ index, offset, length: Math.min(rangeSize, size - offset), firstBlock: index * blocks, blocks });
  }
  return ranges;
}

/**
 * Runs `work` for every range with at most `pool` at a time. A retryable failure puts the
 * range back in the queue (up to RANGE_ATTEMPTS tries); any other failure aborts the
 * rest (through `abort`) and is thrown once everything running has stopped.
 */
export async function forEachRange(
  ranges: readonly Range[],
  pool: number,
  work: (range: Range, attempt: number) => Promise<void>,
  options: { abort: AbortController; onRetry?: (range: Range, error: CopyError) => void },
): Promise<void> {
  const queue = ranges.map((range) => ({ range, attempt: 1 }));
  let failure: unknown;
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next && failure === undefined; next = queue.shift()) {
      if (options.abort.signal.aborted) return;
      try {
        await work(next.range, next.attempt);
      } catch (err) {
        if (err instanceof CopyError && err.retryable && next.attempt < RANGE_ATTEMPTS && !options.abort.signal.aborted) {
          options.onRetry?.(next.range, err);
          queue.push({ range: next.range, attempt: next.attempt + 1 });
          continue;
        }
        failure ??= err;
        options.abort.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(pool, ranges.length)) }, worker));
  if (failure !== undefined) throw failure;
}
