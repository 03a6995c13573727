import net from 'node:net';
import { unlinkSync } from 'node:fs';

/**
 * Where the plugin accepts local connections, from the Port session properties (§7.3.1):
 * a TCP port, a Unix socket, or on Windows a named pipe (`\\.\pipe\NAME`).
 */
export type ListenSpec = { kind: 'tcp'; port: number } | { kind: 'unix'; path: string } | { kind: 'pipe'; path: string };

/**
 * The longest Unix socket path (in bytes) bind() takes: sun_path holds 104 bytes on macOS
 * and the BSDs, 108 on Linux, the terminating NUL included. A longer one is refused here
 * with its length, rather than cut short or failing with a bare ENAMETOOLONG.
 */
export function maxUnixSocketPath(platform: NodeJS.Platform): number {
  return platform === 'linux' || platform === 'android' ? 107 : 103;
}

/** `\\.\pipe\NAME` or `\\?\pipe\NAME`: the named pipes Node listens on under Windows. */
const NAMED_PIPE = /^[\\/]{2}[.?][\\/]pipe[\\/][^\\/]/i;

/**
 * Reads localPortNumber / localUnixSocket / localConnectionType; throws a user-facing Error.
 * On Windows, where Node has no Unix sockets, localUnixSocket must name a pipe.
 */
export function listenSpecFrom(properties: Record<string, unknown> | null, platform: NodeJS.Platform = process.platform): ListenSpec {
  const value = (key: string) => {
    const raw = properties?.[key];
    return typeof raw === 'string' ? raw : raw === undefined || raw === null ? '' : String(raw);
  };
  if (value('localConnectionType') === 'unix') {
    const path = value('localUnixSocket');
    if (!path) throw new Error('localConnectionType is unix but localUnixSocket is empty');
    if (platform === 'win32') {
      if (NAMED_PIPE.test(path)) return { kind: 'pipe', path };
      throw new Error(`localUnixSocket ${path}: Unix sockets are not available on Windows; name a pipe instead, e.g. \\\\.\\pipe\\ssm-session`);
    }
    const length = Buffer.byteLength(path);
    const max = maxUnixSocketPath(platform);
    if (length > max) {
      throw new Error(`localUnixSocket ${path} is ${length} bytes long; ${platform === 'darwin' ? 'macOS' : platform} takes at most ${max}: choose a shorter path`);
    }
    return { kind: 'unix', path };
  }
  const text = value('localPortNumber').trim();
  const port = text === '' ? 0 : Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid localPortNumber ${JSON.stringify(text)}`);
  return { kind: 'tcp', port };
}

export interface LocalListener {
  readonly server: net.Server;
  /** `Port 1234` or `Unix socket /path` (as the official messages start), or `Named pipe \\.\pipe\NAME`. */
  readonly description: string;
  close(): void;
}

/**
 * Listens on 127.0.0.1 (never `localhost`, which may mean ::1), on a Unix socket
 * created owner-only (0600) and removed again on close, or on a Windows named pipe.
 */
export async function listenLocal(spec: ListenSpec, onConnection: (socket: net.Socket) => void): Promise<LocalListener> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
  const restoreUmask = spec.kind === 'unix' ? process.umask(0o177) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (spec.kind === 'tcp') server.listen(spec.port, '127.0.0.1', resolve);
      else server.listen(spec.path, resolve);
    });
  } catch (err) {
    const where = spec.kind === 'tcp' ? `127.0.0.1:${spec.port}` : spec.path;
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot listen on ${where}: ${code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message}`);
  } finally {
    if (restoreUmask !== undefined) process.umask(restoreUmask);
  }
  const address = server.address();
  const description =
    spec.kind === 'unix'
      ? `Unix socket ${spec.path}`
      : spec.kind === 'pipe'
        ? `Named pipe ${spec.path}`
        : `Port ${typeof address === 'object' && address ? address.port : spec.port}`;
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
