// The SOCKS5 codec on its own: greetings, CONNECT requests for each address type, byte
// by byte arrival, malformed input and the reply code it deserves, replies, IPv6 text.
import t from 'tap';
import {
  AddressType,
  encodeMethodChoice,
  encodeReply,
  formatIPv6,
  parseGreeting,
  parseRequest,
  SocksReply,
} from '../src/client/socks5-codec.ts';

/** Proper prefixes of a message that do not parse as incomplete (should be none). */
function completePrefixes(message: Buffer, parse: (data: Buffer) => { status: string }): number[] {
  const wrong: number[] = [];
  for (let n = 0; n < message.length; n++) if (parse(message.subarray(0, n)).status !== 'incomplete') wrong.push(n);
  return wrong;
}

t.test('greeting', async (t) => {
  const greeting = Buffer.from([5, 2, 0x00, 0x02]);
  t.same(parseGreeting(greeting), { status: 'ok', value: { methods: [0, 2] }, consumed: 4 });
  t.same(completePrefixes(greeting, parseGreeting), [], 'every prefix is incomplete');
  const pipelined = parseGreeting(Buffer.concat([greeting, Buffer.from([5, 1, 0])]));
  t.equal(pipelined.status === 'ok' && pipelined.consumed, 4, 'consumes only the greeting');
  t.match(parseGreeting(Buffer.from([4, 1, 0])), { status: 'invalid', reason: /not SOCKS5/ }, 'SOCKS4 is refused');
  t.match(parseGreeting(Buffer.from([5, 0])), { status: 'invalid' }, 'no methods');
  t.same([...encodeMethodChoice(0)], [5, 0]);
  t.same([...encodeMethodChoice(0xff)], [5, 0xff]);
});

t.test('CONNECT requests: IPv4, IPv6, domain name', async (t) => {
  const v4 = Buffer.from([5, 1, 0, 1, 10, 0, 0, 7, 0x1f, 0x90]);
  t.same(parseRequest(v4), { status: 'ok', value: { command: 1, addressType: AddressType.IPv4, host: '10.0.0.7', port: 8080 }, consumed: 10 });
  t.same(completePrefixes(v4, parseRequest), [], 'every prefix is incomplete');

  const v6bytes = Buffer.from('20010db8000000000000000000000001', 'hex');
  const v6 = Buffer.concat([Buffer.from([5, 1, 0, 4]), v6bytes, Buffer.from([0, 80])]);
  t.same(parseRequest(v6), { status: 'ok', value: { command: 1, addressType: AddressType.IPv6, host: '2001:db8::1', port: 80 }, consumed: 22 });
  t.same(completePrefixes(v6, parseRequest), [], 'every prefix is incomplete');

  const name = Buffer.from('example.internal');
  const domain = Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([0x01, 0xbb])]);
  const parsed = parseRequest(Buffer.concat([domain, Buffer.from('GET /')]));
  t.same(parsed, { status: 'ok', value: { command: 1, addressType: AddressType.DomainName, host: 'example.internal', port: 443 }, consumed: domain.length }, 'data after the request is left alone');
  t.same(completePrefixes(domain, parseRequest), [], 'every prefix is incomplete');

  const bind = parseRequest(Buffer.from([5, 2, 0, 1, 127, 0, 0, 1, 0, 22]));
  t.equal(bind.status === 'ok' && bind.value.command, 2, 'other commands parse (the server answers 0x07)');
});

t.test('malformed requests and their reply codes', async (t) => {
  t.match(parseRequest(Buffer.from([5, 1, 0, 9, 1, 2])), { status: 'invalid', reply: SocksReply.AddressTypeNotSupported });
  t.match(parseRequest(Buffer.from([4, 1, 0, 1, 1, 2, 3, 4, 0, 80])), { status: 'invalid', reply: SocksReply.GeneralFailure });
  t.match(parseRequest(Buffer.from([5, 1, 0, 3, 0, 0, 80])), { status: 'invalid', reason: /empty domain/, reply: SocksReply.GeneralFailure });
});

t.test('replies', async (t) => {
  t.same([...encodeReply(SocksReply.Succeeded)], [5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  t.same([...encodeReply(SocksReply.ConnectionRefused)].slice(0, 2), [5, 5]);
  t.equal(SocksReply.CommandNotSupported, 7);
  t.equal(SocksReply.AddressTypeNotSupported, 8);
  t.equal(SocksReply.GeneralFailure, 1);
});

t.test('IPv6 text (RFC 5952)', async (t) => {
  const cases: Array<[string, string]> = [
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100020003000400050006', '2001:db8:1:2:3:4:5:6'],
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
    ['fe800000000000000000000000000000', 'fe80::'],
  ];
  for (const [hex, text] of cases) t.equal(formatIPv6(Buffer.from(hex, 'hex')), text, text);
});
