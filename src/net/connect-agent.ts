// Hand-written on purpose: the runtime must work on Node 20, which has no proxy support of
// its own (Node 24's `proxyEnv` agent option and NODE_USE_ENV_PROXY are ignored there),
// and Node's built-in NO_PROXY matching has no CIDR blocks. A library agent
// (https-proxy-agent) would add three packages to every binary and still need no-proxy.ts.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

type Callback = (err: Error | null, socket?: Duplex) => void;

/**
 * An agent that reaches the target through an HTTP CONNECT tunnel, then speaks TLS
 * inside it for wss:// targets.
 */
export function connectProxyAgent(proxy: URL, secure: boolean, tlsOptions: tls.ConnectionOptions = {}): http.Agent {
  const Base = secure ? https.Agent : http.Agent;
  const agent = new Base({ keepAlive: false, ...tlsOptions });
  const createConnection = (options: tls.ConnectionOptions & { host?: string; port?: number | string }, callback: Callback) => {
    const host = options.host ?? 'localhost';
    const port = Number(options.port ?? (secure ? 443 : 80));
    const headers: Record<string, string> = { Host: `${host}:${port}` };
    if (proxy.username) {
      const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers['Proxy-Authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    const request = http.request({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: `${host.includes(':') ? `[${host}]` : host}:${port}`,
      headers,
    });
    request.once('connect', (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        callback(new Error(`proxy ${proxy.host} refused the tunnel (HTTP ${response.statusCode})`));
        return;
      }
      if (!secure) return callback(null, socket);
      callback(null, tls.connect({ ...tlsOptions, ...options, socket, servername: options.servername ?? host }));
    });
    request.once('error', (err) => callback(new Error(`proxy ${proxy.host}: ${err.message}`)));
    request.end();
  };
  (agent as unknown as { createConnection: typeof createConnection }).createConnection = createConnection;
  return agent;
}
