/**
 * SOCKS5 (RFC 1928) messages for a server that offers only "no authentication" and
 * CONNECT. Pure functions over Buffers: parsers say whether more bytes are needed, how
 * many they used, or which reply code a malformed request deserves.
 */

export const SOCKS_VERSION = 5;

export const AuthMethod = { NoAuthentication: 0x00, NoneAcceptable: 0xff } as const;
export const SocksCommand = { Connect: 0x01, Bind: 0x02, UdpAssociate: 0x03 } as const;
export const AddressType = { IPv4: 0x01, DomainName: 0x03, IPv6: 0x04 } as const;

/** Reply codes (RFC 1928 §6). */
export const SocksReply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;

export type Parsed<T> =
  | { status: 'incomplete' }
  | { status: 'ok'; value: T; consumed: number }
  /** `reply`: the code to answer with before closing, when a reply is possible at all. */
  | { status: 'invalid'; reason: string; reply?: number };

export interface Greeting {
  methods: number[];
}

export interface ConnectRequest {
  command: number;
  addressType: number;
  /** Dotted IPv4, IPv6 text (no brackets), or the domain name as sent. */
  host: string;
  port: number;
}

/** VER NMETHODS METHODS… */
export function parseGreeting(data: Buffer): Parsed<Greeting> {
  if (data.length < 2) return { status: 'incomplete' };
  if (data[0] !== SOCKS_VERSION) return { status: 'invalid', reason: `not SOCKS5 (version byte ${data[0]})` };
  const count = data[1]!;
  if (count === 0) return { status: 'invalid', reason: 'no authentication methods offered' };
  if (data.length < 2 + count) return { status: 'incomplete' };
  return { status: 'ok', value: { methods: [...data.subarray(2, 2 + count)] }, consumed: 2 + count };
}

/** The server's method choice: no authentication, or none acceptable. */
export function encodeMethodChoice(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT */
export function parseRequest(data: Buffer): Parsed<ConnectRequest> {
  if (data.length < 4) return { status: 'incomplete' };
  if (data[0] !== SOCKS_VERSION) {
    return { status: 'invalid', reason: `not SOCKS5 (version byte ${data[0]})`, reply: SocksReply.GeneralFailure };
  }
  const command = data[1]!;
  const addressType = data[3]!;
  let host: string;
  let offset: number;
  switch (addressType) {
    case AddressType.IPv4:
      if (data.length < 4 + 4 + 2) return { status: 'incomplete' };
      host = [...data.subarray(4, 8)].join('.');
      offset = 8;
      break;
    case AddressType.IPv6:
      if (data.length < 4 + 16 + 2) return { status: 'incomplete' };
      host = formatIPv6(data.subarray(4, 20));
      offset = 20;
      break;
    case AddressType.DomainName: {
      if (data.length < 5) return { status: 'incomplete' };
      const length = data[4]!;
      if (length === 0) return { status: 'invalid', reason: 'empty domain name', reply: SocksReply.GeneralFailure };
      if (data.length < 5 + length + 2) return { status: 'incomplete' };
      host = data.subarray(5, 5 + length).toString('latin1');
      offset = 5 + length;
      break;
    }
    default:
      return {
        status: 'invalid',
        reason: `address type ${addressType} is not supported`,
        reply: SocksReply.AddressTypeNotSupported,
      };
  }
  const port = data.readUInt16BE(offset);
  return { status: 'ok', value: { command, addressType, host, port }, consumed: offset + 2 };
}

/**
 * A reply, with 0.0.0.0:0 as the bound address: the connection is made by the agent,
 * far away, and its local address is not known here.
 */
export function encodeReply(reply: number): Buffer {
  return Buffer.from([SOCKS_VERSION, reply, 0, AddressType.IPv4, 0, 0, 0, 0, 0, 0]);
}

/** RFC 5952 text for a 16-byte IPv6 address: lower case, the longest zero run (≥ 2 groups) as `::`. */
export function formatIPv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  if (groups.slice(0, 6).every((g, i) => (i < 5 ? g === 0 : g === 0xffff))) {
    // IPv4-mapped: ::ffff:a.b.c.d
    return `::ffff:${[...bytes.subarray(12, 16)].join('.')}`;
  }
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLength < 2) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}
