import net from 'node:net';
import { unlinkSync } from 'node:fs';

/** Where the plugin accepts local connections, from the Port session properties (§7.3.1). */
export type ListenSpec = { kind: 'tcp'; port: number } | { kind: 'unix'; path: string };

/** Reads localPortNumber / localUnixSocket / localConnectionType; throws a user-facing Error. */
export function listenSpecFrom(properties: Record<string, unknown> | null): ListenSpec {
  const value = (key: string) => {
    const raw = properties?.[key];
    return typeof raw === 'string' ? raw : raw === undefined || raw === null ? '' : String(raw);
  };
  if (value('localConnectionType') === 'unix') {
    const path = value('localUnixSocket');
    if (!path) throw new Error('localConnectionType is unix but localUnixSocket is empty');
    return { kind: 'unix', path };
  }
  const text = value('localPortNumber').trim();
  const port = text === '' ? 0 : Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid localPortNumber ${JSON.stringify(text)}`);
  return { kind: 'tcp', port };
}

export interface LocalListener {
  readonly server: net.Server;
  /** `Port 1234` or `Unix socket /path`, as the official messages start. */
  readonly description: string;
  close(): void;
}

/**
 * Listens on 127.0.0.1 (never `localhost`, which may mean ::1) or on a Unix socket
 * created owner-only (0600) and removed again on close.
 */
export async function listenLocal(spec: ListenSpec, onConnection: (socket: net.Socket) => void): Promise<LocalListener> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
  const restoreUmask = spec.kind === 'unix' ? process.umask(0o177) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (spec.kind === 'unix') server.listen(spec.path, resolve);
      else server.listen(spec.port, '127.0.0.1', resolve);
    });
  } catch (err) {
    const where = spec.kind === 'unix' ? spec.path : `127.0.0.1:${spec.port}`;
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot listen on ${where}: ${code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message}`);
  } finally {
    if (restoreUmask !== undefined) process.umask(restoreUmask);
  }
  const address = server.address();
  const description =
    spec.kind === 'unix' ? `Unix socket ${spec.path}` : `Port ${typeof address === 'object' && address ? address.port : spec.port}`;
  let closed = false;
  return {
    server,
    description,
    close() {
      if (closed) return;
      closed = true;
      server.close();
      if (spec.kind === 'unix') {
        try {
          unlinkSync(spec.path);
        } catch {
          // Already removed by the server.
        }
      }
    },
  };
}
