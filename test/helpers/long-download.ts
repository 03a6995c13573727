// A long download over a connection or stream (the destination protocol of
// port-traffic.ts), for tests that end its session midway and look at how it ended.
import type { Duplex } from 'node:stream';

export interface LongDownload {
  /** Bytes received so far. */
  readonly received: number;
  /** How the connection ended: an error code (ECONNRESET), 'ended cleanly' or 'closed without an error'. */
  readonly ended: Promise<string>;
}

/** Asks the destination for `bytes` bytes on `connection` and counts them as they come. */
export function longDownload(connection: Duplex, bytes: number): LongDownload {
  let received = 0;
  connection.on('data', (data: Buffer) => (received += data.length));
  const ended = new Promise<string>((resolve) => {
    connection.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    connection.once('end', () => resolve('ended cleanly'));
    connection.once('close', () => resolve('closed without an error'));
  });
  const header = Buffer.alloc(16);
  header.writeUInt32LE(1, 0);
  header.writeUInt32LE(0, 4);
  header.writeUInt32LE(bytes, 8);
  connection.write(header);
  return {
    get received() {
      return received;
    },
    ended,
  };
}
