import { BlockList, isIP } from 'node:net';

/**
 * Whether NO_PROXY sends `target` directly. The entries are separated by commas or
 * spaces, in the forms curl, Go and the AWS CLI accept:
 * - `*`: every target;
 * - `example.com`, `.example.com`, `*.example.com`: that domain and its subdomains;
 * - an IPv4 or IPv6 address (`10.1.2.3`, `::1`, `[::1]`): that address;
 * - a CIDR block (`10.0.0.0/8`, `fd00::/8`): addresses inside it. Names are not resolved,
 *   so a CIDR entry matches only a target given as an address, as with curl and Go;
 * - any of these with `:port` (`[::1]:443` for IPv6): only that port.
 */
export function bypassesProxy(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'wss:' || target.protocol === 'https:' ? '443' : '80');
  const hostFamily = isIP(host);
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = parseEntry(raw.trim().toLowerCase());
    if (!entry) continue;
    if (entry.port !== undefined && entry.port !== port) continue;
    if (entry.kind === 'any') return true;
    if (entry.kind === 'domain') {
      if (hostFamily === 0 && (host === entry.domain || host.endsWith(`.${entry.domain}`))) return true;
    } else if (hostFamily !== 0 && entry.addresses.check(host, hostFamily === 4 ? 'ipv4' : 'ipv6')) {
      return true;
    }
  }
  return false;
}

type Entry =
  | { kind: 'any'; port?: string }
  | { kind: 'domain'; domain: string; port?: string }
  | { kind: 'addresses'; addresses: BlockList; port?: string };

function parseEntry(text: string): Entry | undefined {
  if (!text) return undefined;
  let hostPart = text;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    hostPart = bracketed[1] as string;
    port = bracketed[2];
  } else if (!text.includes('::') && /^[^:]+:\d+$/.test(text)) {
    // One colon before digits is a port; IPv6 addresses without brackets have more.
    [hostPart = '', port] = text.split(':');
  }
  if (hostPart === '*') return { kind: 'any', port };
  const slash = hostPart.indexOf('/');
  const address = slash < 0 ? hostPart : hostPart.slice(0, slash);
  const family = isIP(address);
  if (family !== 0) {
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const prefix = slash < 0 ? (family === 4 ? 32 : 128) : Number(hostPart.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
    const addresses = new BlockList();
    addresses.addSubnet(address, prefix, type);
    return { kind: 'addresses', addresses, port };
  }
  const domain = hostPart.replace(/^\*?\./, '');
  return domain && !domain.includes('/') ? { kind: 'domain', domain, port } : undefined;
}
