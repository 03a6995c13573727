import type { Duplex } from 'node:stream';
import type { StreamHandler } from '../session/port/stream-handler.ts';

/** Bytes read from a stream while checking it, to be delivered first. */
export interface PendingDown {
  chunks: Buffer[];
  ended: boolean;
}

export type ConnectVerdict =
  | { status: 'open'; pending: PendingDown }
  | { status: 'refused' }
  /** The stream died without ending: its session is over. */
  | { status: 'failed' };

/** Extra wait when a ConnectToPortError arrived but its stream's FIN has not (yet). */
const REFUSAL_FIN_WAIT_MS = 2000;

/**
 * Tells whether the agent managed to connect a new stream to its destination. The
 * protocol reports only failures (a ConnectToPortError flag, then the stream's FIN), so
 * a stream is taken as open when data arrives, when it ends without a matching flag, or
 * when `waitMs` passes without a refusal. A destination that drops connection attempts
 * silently therefore looks open at first and closes later.
 *
 * Reads the stream meanwhile; what it read comes back in `pending`, the stream paused.
 */
export function checkConnect(stream: Duplex, handler: StreamHandler, waitMs: number): Promise<ConnectVerdict> {
  return new Promise<ConnectVerdict>((resolve) => {
    const chunks: Buffer[] = [];
    let extended = false;
    let timer: NodeJS.Timeout;
    const settle = (verdict: ConnectVerdict): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      stream.off('error', onClose);
      stream.pause();
      resolve(verdict);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      settle({ status: 'open', pending: { chunks, ended: false } });
    };
    const onEnd = (): void => {
      if (chunks.length === 0 && handler.takeRefusal()) settle({ status: 'refused' });
      else settle({ status: 'open', pending: { chunks, ended: true } });
    };
    const onClose = (): void => settle({ status: 'failed' });
    const onTimer = (): void => {
      // A refusal is waiting for its FIN, which may be this stream's: wait for it.
      if (handler.pendingRefusals > 0 && !extended) {
        extended = true;
        timer = setTimeout(onTimer, REFUSAL_FIN_WAIT_MS);
        return;
      }
      settle({ status: 'open', pending: { chunks, ended: false } });
    };
    timer = setTimeout(onTimer, waitMs);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onClose);
    stream.once('error', onClose);
  });
}
