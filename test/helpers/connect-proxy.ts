// An HTTP CONNECT proxy on 127.0.0.1 for end-to-end tests, as HTTPS_PROXY. It never dials
// out: each tunnel goes to the port `route` picks for the requested host:port (say, the
// simulator's, for `ssm.us-east-1.amazonaws.com:443`), and a target it does not know is
// refused with 403. It records every CONNECT target, in order.
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ConnectProxy {
  /** e.g. `http://127.0.0.1:34567`, for HTTPS_PROXY / HTTP_PROXY. */
  readonly url: string;
  /** Every CONNECT target (`host:port`) in arrival order, refused ones included. */
  readonly tunnels: readonly string[];
  close(): Promise<void>;
}

/** `route` maps a CONNECT target to a 127.0.0.1 port, or undefined to refuse it. */
export async function startConnectProxy(route: (host: string, port: number) => number | undefined): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_request, response) => response.writeHead(405).end());
  server.on('connect', (request, client: Socket, head: Buffer) => {
    const target = request.url ?? '';
    tunnels.push(target);
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const split = /^(.*):(\d+)$/.exec(target);
    const port = split ? route(split[1]!.replace(/^\[|\]$/g, ''), Number(split[2])) : undefined;
    if (port === undefined) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
