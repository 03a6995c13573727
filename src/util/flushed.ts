import type { Writable } from 'node:stream';

/** The smallest write: its callback runs once every write queued before it is done. */
const NOTHING = Buffer.alloc(0);

/**
 * Resolves once everything written to `stream` so far has left the process, so that a
 * `process.exit()` after it loses nothing. Node writes to pipes and sockets
 * asynchronously on POSIX (files, and terminals on POSIX, are written synchronously),
 * and `process.exit()` drops whatever is still queued: the tail of the output when
 * the reader (`| less`, ssh as ProxyCommand) is slower than the session.
 *
 * No time limit: like the official (Go) plugin, whose writes block, we wait as long as
 * the reader lives, since the only alternative is to throw away output it would still
 * read (a pager the user has not scrolled yet). A reader that stays alive without ever
 * reading keeps us too, as it would keep `cat`; a signal still ends us (the session's
 * signal routing is gone by then), as does that reader's exit. A reader that went away (EPIPE), or a
 * stream that is closed or failed, can take nothing more: that resolves at once, never
 * rejects, and the error it reports is consumed here rather than thrown.
 */
export function flushed(stream: Writable): Promise<void> {
  if (stream.destroyed || stream.errored) {
    ignoreFailure(stream);
    return Promise.resolve();
  }
  if (stream.writableFinished || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (failure?: unknown): void => {
      stream.off('close', closed);
      stream.off('finish', closed);
      stream.off('error', done);
      if (failure || stream.destroyed) ignoreFailure(stream);
      resolve();
    };
    const closed = (): void => done();
    stream.on('close', closed);
    stream.on('finish', closed);
    stream.on('error', done);
    // An ended stream takes no more writes; its 'finish' says the queue is out.
    if (!stream.writableEnded) stream.write(NOTHING, done);
  });
}

const ignoring = new WeakSet<Writable>();

/**
 * A failed stream fails its queued writes first and emits 'error' on a later tick (a
 * stdio stream may even do so again, as Node revives it after destroy): whatever it
 * reports now, its reader is gone, which is no reason to crash on the way out.
 */
function ignoreFailure(stream: Writable): void {
  if (ignoring.has(stream)) return;
  ignoring.add(stream);
  stream.on('error', () => undefined);
}

/** Both of this process's output streams flushed: what the CLIs wait for before they exit. */
export function stdioFlushed(): Promise<void> {
  return Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => undefined);
}
