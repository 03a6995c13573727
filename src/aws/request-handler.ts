import http from 'node:http';
import https from 'node:https';
import { connectProxyAgent } from '../net/connect-agent.ts';
import { proxyFor } from '../net/proxy-env.ts';
import { tlsTrust } from '../net/tls-trust.ts';

/**
 * HTTP agents for the SDK clients (and the signed EC2 request): the JavaScript SDK honours
 * neither HTTPS_PROXY nor AWS_CA_BUNDLE by itself, the AWS CLI and the official plugin do;
 * and it trusts Node's bundled roots only, the official plugin the OS store (see
 * net/tls-trust.ts).
 */
export function requestHandlerOptions(endpoint: string, env: NodeJS.ProcessEnv = process.env) {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  // The trust is made only for an https endpoint: reading the OS store takes time.
  const tlsOptions = url?.protocol === 'http:' ? {} : tlsTrust(env);
  const proxy = url ? proxyFor(url, env) : undefined;
  return {
    httpsAgent: proxy ? connectProxyAgent(proxy, true, tlsOptions) : new https.Agent({ keepAlive: true, ...tlsOptions }),
    httpAgent: proxy ? connectProxyAgent(proxy, false) : new http.Agent({ keepAlive: true }),
    connectionTimeout: 10_000,
    requestTimeout: 20_000,
  };
}
