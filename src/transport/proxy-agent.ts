import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

/** The proxy URL for `target` from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, if any. */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const secure = target.protocol === 'wss:' || target.protocol === 'https:';
  const raw = secure
    ? (env.HTTPS_PROXY ?? env.https_proxy)
    : (env.HTTP_PROXY ?? env.http_proxy);
  if (!raw) return undefined;
  if (bypassesProxy(target, env.NO_PROXY ?? env.no_proxy ?? '')) return undefined;
  try {
    return new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    return undefined;
  }
}

function bypassesProxy(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'wss:' || target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const [name = '', entryPort] = entry.split(/:(?=\d+$)/);
    if (entryPort && entryPort !== port) continue;
    const suffix = name.replace(/^\*?\./, '');
    if (host === suffix || host.endsWith(`.${suffix}`)) return true;
  }
  return false;
}

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
