/**
 * Corks a writable until the end of the current tick, so the payloads of all frames that
 * arrived in one read of the WebSocket (dozens of ≤1 KiB Output payloads) leave in one
 * write: one syscall and, with Nagle off, one TCP segment instead of one per payload.
 * Backpressure is unchanged: write() still reports the corked bytes against the
 * high-water mark, and 'drain' follows the flush.
 */
const corked = new WeakSet<object>();

export function corkUntilNextTick(sink: NodeJS.WritableStream): void {
  const stream = sink as NodeJS.WritableStream & { cork?: () => void; uncork?: () => void };
  if (!stream.cork || !stream.uncork || corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  process.nextTick(() => {
    corked.delete(stream);
    stream.uncork!();
  });
}
