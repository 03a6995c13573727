import { UsageError } from './errors.ts';

/** Where local listeners bind unless the spec names an address (never all interfaces by default). */
export const DEFAULT_BIND = '127.0.0.1';

/** `-L [BIND:]LOCAL:HOST:PORT`: a local listener forwarded to HOST:PORT as seen from the target. */
export interface LocalForwardSpec {
  /** The option text as given, for messages and the status line. */
  readonly text: string;
  readonly bind: string;
  /** 0 picks a free port. */
  readonly localPort: number;
  /** Undefined means the target itself (HOST was `localhost`). */
  readonly host: string | undefined;
  readonly port: number;
}

/** `-D [BIND:]PORT`: a SOCKS5 proxy whose CONNECTs become remote-host port sessions. */
export interface SocksSpec {
  readonly text: string;
  readonly bind: string;
  readonly port: number;
}

/**
 * HOST that means "the target itself" (AWS-StartPortForwardingSession, which every agent
 * supports); any other host, 127.0.0.1 and ::1 included, is dialled as written
 * (AWS-StartPortForwardingSessionToRemoteHost).
 */
const TARGET_ITSELF = 'localhost';

/**
 * Splits on colons outside square brackets, so IPv6 addresses are written `[::1]`.
 * Brackets are removed from each part.
 */
function splitColons(text: string, option: string): string[] {
  const parts: string[] = [];
  let current = '';
  let depth = 0;
  for (const char of text) {
    if (char === '[') {
      if (depth > 0) throw new UsageError(`${option} ${text}: nested "["`);
      depth++;
    } else if (char === ']') {
      if (depth === 0) throw new UsageError(`${option} ${text}: "]" without "["`);
      depth--;
    }
    if (char === ':' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (depth > 0) throw new UsageError(`${option} ${text}: "[" without "]"`);
  parts.push(current);
  return parts;
}

function unbracket(part: string): string {
  return part.startsWith('[') && part.endsWith(']') ? part.slice(1, -1) : part;
}

function portNumber(text: string, option: string, spec: string, allowZero: boolean): number {
  const value = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(value <= 65535) || (!allowZero && value === 0)) {
    throw new UsageError(`${option} ${spec}: "${text}" is not a port number (${allowZero ? 0 : 1}-65535)`);
  }
  return value;
}

function address(part: string, option: string, spec: string, what: string): string {
  const value = unbracket(part);
  if (value === '') throw new UsageError(`${option} ${spec}: empty ${what}`);
  if (value.includes('[') || value.includes(']')) throw new UsageError(`${option} ${spec}: bad ${what} "${part}"`);
  return value;
}

/** Parses one `-L` value. */
export function parseLocalForward(text: string): LocalForwardSpec {
  const parts = splitColons(text, '-L');
  if (parts.length !== 3 && parts.length !== 4) {
    throw new UsageError(`-L ${text}: expected [BIND:]LOCAL:HOST:PORT (IPv6 addresses in brackets, e.g. [::1]:8080:host:80)`);
  }
  const [bindPart, localPart, hostPart, portPart] = parts.length === 4 ? parts : [undefined, ...parts];
  const host = address(hostPart!, '-L', text, 'host');
  return {
    text,
    bind: bindPart === undefined ? DEFAULT_BIND : address(bindPart, '-L', text, 'bind address'),
    localPort: portNumber(localPart!, '-L', text, true),
    host: host.toLowerCase() === TARGET_ITSELF ? undefined : host,
    port: portNumber(portPart!, '-L', text, false),
  };
}

/** Parses one `-D` value. */
export function parseSocks(text: string): SocksSpec {
  const parts = splitColons(text, '-D');
  if (parts.length !== 1 && parts.length !== 2) {
    throw new UsageError(`-D ${text}: expected [BIND:]PORT (IPv6 addresses in brackets, e.g. [::1]:1080)`);
  }
  const [bindPart, portPart] = parts.length === 2 ? parts : [undefined, parts[0]];
  return {
    text,
    bind: bindPart === undefined ? DEFAULT_BIND : address(bindPart, '-D', text, 'bind address'),
    port: portNumber(portPart!, '-D', text, true),
  };
}

/** `host:port` for messages, with IPv6 addresses in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
