import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { corkUntilNextTick } from '../../util/tick-cork.ts';

export interface BridgeOptions {
  /** Bytes read from the socket (towards the destination). */
  onUp?(bytes: number): void;
  /** Bytes written to the socket (from the destination). */
  onDown?(bytes: number): void;
  /** Gets each chunk read from the stream back once the socket has written it. */
  recycle?(chunk: Buffer): void;
  /** Called just before the connection is reset. */
  onReset?(): void;
  /** Bytes already read from the socket that belong to the stream (e.g. after a SOCKS request). */
  pendingUp?: Buffer;
  /** Bytes already read from the stream, and whether it had ended (e.g. during a connect check). */
  pendingDown?: { chunks: Buffer[]; ended: boolean };
}

export interface BridgeResult {
  /** True when the connection was reset because the stream died (its session ended). */
  reset: boolean;
}

/**
 * The one bridge between a local connection and a session stream, for the plugin's
 * listener and the library's forwards and SOCKS proxy. Copies both ways with
 * backpressure: the socket is paused while the stream cannot take more (the data channel
 * window is full), the stream while the socket's buffer is full. An EOF travels as FIN
 * and back. A stream that dies without ending (its session is gone) resets the
 * connection (RST; a Unix socket or pipe, which has none, is closed), so the local client
 * sees a failure rather than a clean end of data. Resolves when the socket has closed.
 */
export function bridge(socket: net.Socket, stream: Duplex, options: BridgeOptions = {}): Promise<BridgeResult> {
  let reset = false;
  const abort = (): void => {
    if (socket.destroyed) return;
    reset = true;
    options.onReset?.();
    resetConnection(socket);
  };
  const toSocket = (chunk: Buffer): void => {
    options.onDown?.(chunk.length);
    // Chunks that arrive in one turn (a burst of 1 KiB payloads) leave in one write.
    corkUntilNextTick(socket);
    const recycle = options.recycle;
    const room = recycle ? socket.write(chunk, () => recycle(chunk)) : socket.write(chunk);
    if (!room) stream.pause();
  };
  return new Promise<BridgeResult>((resolve) => {
    socket.once('close', () => {
      stream.destroy();
      resolve({ reset });
    });
    socket.on('error', () => stream.destroy());
    stream.on('error', abort);
    stream.once('close', () => {
      if (!stream.readableEnded || !stream.writableFinished) abort();
    });

    if (options.pendingUp && options.pendingUp.length > 0) {
      options.onUp?.(options.pendingUp.length);
      stream.write(options.pendingUp);
    }
    socket.on('data', (chunk: Buffer) => {
      options.onUp?.(chunk.length);
      if (!stream.write(chunk)) socket.pause();
    });
    stream.on('drain', () => socket.resume());
    socket.once('end', () => stream.end());

    for (const chunk of options.pendingDown?.chunks ?? []) toSocket(chunk);
    if (options.pendingDown?.ended) socket.end();
    else {
      stream.on('data', toSocket);
      stream.once('end', () => socket.end());
    }
    socket.on('drain', () => stream.resume());
    stream.resume();
    socket.resume();
  });
}

/** Closes a TCP connection with RST; other sockets (Unix, named pipes) have no reset and are just closed. */
function resetConnection(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_INVALID_HANDLE_TYPE') throw err;
    socket.destroy();
  }
}
