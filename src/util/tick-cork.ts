/**
 * Corks a writable until the end of the current tick, so many small writes made in one
 * tick (the payloads of all frames one WebSocket read brought, or a burst of frames)
 * leave in one write: one syscall and, with Nagle off, one TCP segment instead of one
 * each. Backpressure is unchanged: write() still reports the corked bytes against the
 * high-water mark, and 'drain' follows the flush. Corking nests, so a library that
 * corks around its own writes (ws does, per frame) flushes only at our uncork.
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

/** The same for a `ws` WebSocket: its underlying TCP socket (ws keeps it as `_socket`). */
export function corkWebSocketUntilNextTick(socket: object): void {
  const raw = (socket as { _socket?: NodeJS.WritableStream })._socket;
  if (raw) corkUntilNextTick(raw);
}
