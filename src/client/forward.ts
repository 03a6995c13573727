import type net from 'node:net';
import { AwsContext } from './aws-context.ts';
import { ClientError, messageOf } from './errors.ts';
import { ForwardBase, hostPort, listenTcp } from './forward-base.ts';
import type { Forward, ForwardPortOptions } from './forward-types.ts';
import { startPortSession } from './port-session.ts';
import { SessionPool } from './session-pool.ts';

/**
 * Forwards a local TCP port to a port on the target (or on `host`, reached through the
 * target), like `ssh -L`. Connections are spread over a pool of port sessions (see
 * PoolOptions): N parallel connections get about N times one session's throughput.
 * Resolves once listening; rejects with a ClientError when the address cannot be used.
 *
 * ```ts
 * const forward = await forwardPort({ target: 'i-0123456789abcdef0', localPort: 8080, host: 'db.internal', port: 5432 });
 * forward.on('event', (event) => console.error(event.type));
 * console.log(forward.address.port, forward.stats.throughputDown);
 * await forward.close();
 * ```
 */
export async function forwardPort(options: ForwardPortOptions): Promise<Forward> {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new ClientError('invalid-argument', `invalid destination port ${options.port}`);
  }
  const server = await listenTcp(options.bind ?? '127.0.0.1', options.localPort);
  return new PortForward(server, options);
}

class PortForward extends ForwardBase {
  readonly description: string;
  private readonly destination: string;
  private readonly pool: SessionPool;

  constructor(server: net.Server, options: ForwardPortOptions) {
    super(server);
    const context = new AwsContext(options.aws);
    this.destination = hostPort(options.host ?? 'localhost', options.port);
    this.description = `${hostPort(this.address.address, this.address.port)} -> ${options.target} ${this.destination}`;
    this.pool = new SessionPool(() => startPortSession(options, context), options.pool);
    this.watchPool(this.pool, this.destination);
  }

  protected onConnection(socket: net.Socket): void {
    const connection = this.accept(socket, this.destination);
    this.pool.acquire().then(
      (lease) => {
        if (socket.destroyed || this.closed) {
          lease.stream.destroy();
          lease.release();
          return;
        }
        void this.carry(connection, lease);
      },
      (err: unknown) => {
        this.fail(`no session for connection ${connection.id}: ${messageOf(err)}`, connection);
        this.reset(connection);
      },
    );
  }

  protected closePools(): Promise<void> {
    return this.pool.close();
  }
}
