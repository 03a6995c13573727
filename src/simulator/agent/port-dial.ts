import { lookup } from 'node:dns/promises';
import { connect, isIP, type Socket } from 'node:net';
import type { PortProperties } from './port-mode.ts';

// The dial policy of port sessions (port.go): where the destination is, which addresses
// are denied, and how a dial fails, in Go's words.

export interface Destination {
  /** The host as the properties give it ('' for the target itself). */
  host: string;
  /** Addresses to try in order (none when the host did not resolve). */
  addresses: string[];
  port: number;
}

/**
 * The agent's default deny list for remote hosts (agent/appconfig/constants.go,
 * DefaultDeniedPortForwardingRemoteIPs): the instance metadata service, DNS, NTP and
 * other EC2 link-local endpoints. (The agent also denies the VPC's DNS addresses, which
 * it learns from the instance metadata; the simulator has no VPC.)
 */
export const DENIED_REMOTE_IPS: readonly string[] = [
  '169.254.169.254',
  'fd00:ec2::254',
  '169.254.169.253',
  'fd00:ec2::253',
  '169.254.169.123',
  'fd00:ec2::123',
  '169.254.169.250',
  '169.254.169.251',
  'fd00:ec2::240',
];

/** An IP address in one canonical text form (an IPv4-mapped IPv6 address as IPv4), as Go's IP.Equal compares. */
function canonicalIp(address: string): string | undefined {
  const lower = address.toLowerCase();
  if (isIP(lower) === 4) return lower;
  if (isIP(lower) !== 6) return undefined;
  const hostname = new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(hostname);
  if (!mapped) return hostname;
  const high = parseInt(mapped[1] as string, 16);
  const low = parseInt(mapped[2] as string, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

const DENIED = new Set(DENIED_REMOTE_IPS.map((address) => canonicalIp(address)));

export function isForbiddenAddress(address: string): boolean {
  return DENIED.has(canonicalIp(address));
}

function isLoopbackAddress(address: string): boolean {
  const lower = address.toLowerCase();
  return lower === '::1' || lower.startsWith('127.') || lower.startsWith('::ffff:127.');
}

/** Why a port session cannot start; `message` is the task result's text. */
export class PortStartError extends Error {}

/**
 * Resolves the destination at session start (port.go, validateParameters). No host, and
 * `localhost`, mean 127.0.0.1, so that all simulator traffic stays on IPv4 loopback. A
 * host that does not resolve is not an error here (the agent ignores the lookup error;
 * the dial then fails with "missing address"). A resolved address on the deny list fails
 * the session naming the host as given.
 */
export async function resolveDestination(properties: PortProperties, allowRemote: boolean): Promise<Destination> {
  const portText = properties.portNumber ?? '';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new PortStartError(`Invalid portNumber "${portText}".`);
  const host = properties.host ?? '';
  let addresses: string[];
  const bare = host.replace(/^\[|\]$/g, '');
  if (host === '' || host.toLowerCase() === 'localhost') {
    addresses = ['127.0.0.1'];
  } else if (isIP(bare) !== 0) {
    addresses = [bare];
  } else {
    addresses = await lookup(host, { all: true, verbatim: true }).then(
      (entries) => entries.map((entry) => entry.address),
      () => [],
    );
  }
  if (addresses.some(isForbiddenAddress)) throw new PortStartError(`Forwarding to IP address ${host} is forbidden.`);
  if (!allowRemote) {
    const remote = addresses.find((address) => !isLoopbackAddress(address));
    if (remote !== undefined) {
      throw new PortStartError(
        `The simulator only forwards to loopback addresses: ${host} resolves to ${remote} ` +
          '(start the simulator with allowRemoteDestinations to change this).',
      );
    }
  }
  return { host, addresses, port };
}

/** Go's errno texts for the dial failures a simulator sees. */
const DIAL_ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ECONNRESET: 'connection reset by peer',
};

/** net.JoinHostPort: IPv6 addresses in brackets. */
function joinHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Dials each address in turn (port.go, DialCall); rejects with the first failure, in Go's
 * words (`dial tcp 127.0.0.1:22: connect: connection refused`; `missing address` when the
 * host resolved to nothing).
 */
export function dialDestination(destination: Destination): Promise<Socket> {
  let firstError: Error | undefined;
  const attempt = (index: number): Promise<Socket> => {
    const address = destination.addresses[index];
    if (address === undefined) return Promise.reject(firstError ?? new Error('missing address'));
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: address, port: destination.port });
      const onError = (error: NodeJS.ErrnoException): void => {
        socket.destroy();
        const reason = DIAL_ERRNO_TEXT[error.code ?? ''] ?? error.message;
        reject(new Error(`dial tcp ${joinHostPort(address, destination.port)}: connect: ${reason}`));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(socket);
      });
    }).catch((error: Error) => {
      firstError ??= error;
      return attempt(index + 1);
    });
  };
  return attempt(0);
}
