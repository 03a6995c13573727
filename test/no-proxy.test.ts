// NO_PROXY matching (src/net/no-proxy.ts) and proxy selection from the environment.
import t from 'tap';
import { bypassesProxy } from '../src/net/no-proxy.ts';
import { proxyFor } from '../src/net/proxy-env.ts';

const cases: Array<[target: string, noProxy: string, bypass: boolean]> = [
  // Empty and wildcard.
  ['https://ssm.us-east-1.amazonaws.com/', '', false],
  ['https://ssm.us-east-1.amazonaws.com/', '*', true],
  ['https://10.1.2.3/', ' , *', true],
  // Domains: the name itself and its subdomains, never a longer name that ends alike.
  ['https://amazonaws.com/', 'amazonaws.com', true],
  ['https://ssm.us-east-1.amazonaws.com/', 'amazonaws.com', true],
  ['https://ssm.us-east-1.amazonaws.com/', '.amazonaws.com', true],
  ['https://ssm.us-east-1.amazonaws.com/', '*.amazonaws.com', true],
  ['https://notamazonaws.com/', 'amazonaws.com', false],
  ['https://notamazonaws.com/', '.amazonaws.com', false],
  ['https://SSM.Example.COM/', 'example.com', true],
  ['https://example.com/', 'other.org, example.com', true],
  ['https://example.com/', 'other.org example.com', true],
  // host:port.
  ['https://example.com/', 'example.com:443', true],
  ['https://example.com/', 'example.com:8443', false],
  ['https://example.com:8443/', 'example.com:8443', true],
  ['http://example.com/', 'example.com:80', true],
  ['wss://example.com/', 'example.com:443', true],
  ['ws://example.com/', 'example.com:443', false],
  ['https://example.com/', '*:443', true],
  // IPv4 addresses and CIDR blocks.
  ['https://10.1.2.3/', '10.1.2.3', true],
  ['https://10.1.2.3/', '10.1.2.4', false],
  ['https://10.1.2.3/', '10.0.0.0/8', true],
  ['https://11.1.2.3/', '10.0.0.0/8', false],
  ['https://192.168.7.9/', '192.168.4.0/22', true],
  ['https://192.168.8.1/', '192.168.4.0/22', false],
  ['https://10.1.2.3/', '0.0.0.0/0', true],
  ['https://10.1.2.3:8443/', '10.0.0.0/8:8443', true],
  ['https://10.1.2.3/', '10.0.0.0/8:8443', false],
  ['https://127.0.0.1/', '.0.0.1', false],
  ['https://10.1.2.3/', '10.0.0.0/33', false],
  ['https://10.1.2.3/', '10.0.0.0/x', false],
  // A CIDR entry never matches a name (names are not resolved).
  ['https://localhost/', '127.0.0.0/8', false],
  // IPv6 addresses and CIDR blocks, bare or bracketed.
  ['https://[::1]/', '::1', true],
  ['https://[::1]/', '[::1]', true],
  ['https://[::1]/', '[::1]:443', true],
  ['https://[::1]/', '[::1]:8443', false],
  ['https://[::2]/', '::1', false],
  ['https://[fd00::1234]/', 'fd00::/8', true],
  ['https://[fe80::1]/', 'fd00::/8', false],
  ['https://[2001:db8:0:0:0:0:0:1]/', '2001:db8::1', true],
  ['https://[2001:db8::1]/', '2001:db8::/32', true],
  ['https://[2001:db9::1]/', '2001:db8::/32', false],
  ['https://10.1.2.3/', 'fd00::/8', false],
  ['https://[fd00::1]/', '10.0.0.0/8', false],
];

for (const [target, noProxy, bypass] of cases) {
  t.equal(bypassesProxy(new URL(target), noProxy), bypass, `${target} with NO_PROXY=${JSON.stringify(noProxy)}`);
}

t.test('proxyFor takes the proxy by scheme and honours NO_PROXY, either case', async (t) => {
  const url = new URL('wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/s');
  t.equal(proxyFor(url, { HTTPS_PROXY: 'http://proxy:3128' })?.href, 'http://proxy:3128/');
  t.equal(proxyFor(url, { https_proxy: 'proxy:3128' })?.href, 'http://proxy:3128/', 'a bare host:port is an http:// proxy');
  t.equal(proxyFor(url, { HTTP_PROXY: 'http://proxy:3128' }), undefined, 'wss never takes HTTP_PROXY');
  t.equal(proxyFor(new URL('http://10.0.0.5/'), { HTTP_PROXY: 'http://proxy:3128' })?.host, 'proxy:3128');
  t.equal(proxyFor(new URL('http://10.0.0.5/'), { HTTP_PROXY: 'http://proxy:3128', NO_PROXY: '10.0.0.0/24' }), undefined);
  t.equal(proxyFor(new URL('http://10.0.0.5/'), { HTTP_PROXY: 'http://proxy:3128', no_proxy: '10.0.0.0/24' }), undefined);
  t.equal(proxyFor(url, { HTTPS_PROXY: 'http://[bad' }), undefined, 'an unparsable proxy is ignored');
});
