// EC2 DescribeTags (instance names for `list` and the picker) is the one call without an
// SDK client; it is signed by the SDK's own SigV4 signer, taken from an SSM client. Here a
// SigV4 written from the specification (test/helpers/sigv4-reference.ts) is first checked
// against the SDK's signer (@smithy/signature-v4, an independent implementation), then
// used as AWS would: to check the requests describeInstanceTags really sends over HTTP
// (each page, with and without a session token), from the bytes that arrive.
import t from 'tap';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import { describeInstanceTags } from '../src/aws/ec2-tags.ts';
import { parseAuthorization, signature } from './helpers/sigv4-reference.ts';

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}

/** node:crypto as the SDK's hash interface. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

t.test('the reference signer gives the same signature as the SDK', async (t) => {
  const when = new Date('2024-05-06T07:08:09Z');
  const body = new URLSearchParams({ Action: 'DescribeTags', Version: '2016-11-15', 'Filter.1.Name': 'resource-id', 'Filter.1.Value.1': 'i-0123456789abcdef0' }).toString();
  const cases = [
    { url: 'https://ec2.eu-west-1.amazonaws.com/', region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' } },
    { url: 'http://127.0.0.1:4566/', region: 'us-east-1', credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+chars=' } },
  ];
  for (const c of cases) {
    const url = new URL(c.url);
    const signer = new SignatureV4({ service: 'ec2', region: c.region, credentials: c.credentials, sha256: Sha256, uriEscapePath: true, applyChecksum: false });
    const theirs = await signer.sign(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: '/',
        query: {},
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', host: url.host },
        body,
      },
      { signingDate: when },
    );
    const parsed = parseAuthorization(theirs.headers.authorization);
    t.ok(parsed, `${c.url}: an Authorization header`);
    t.same(parsed?.signedHeaders, ['content-type', 'host', 'x-amz-date', ...(c.credentials.sessionToken ? ['x-amz-security-token'] : [])]);
    const ours = signature({ method: 'POST', path: '/', headers: theirs.headers, body }, parsed?.signedHeaders ?? [], { date: '20240506T070809Z', region: c.region, service: 'ec2' }, c.credentials.secretAccessKey);
    t.equal(ours, parsed?.signature, `${c.url}: the same signature`);
  }
});

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

interface Arrived {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** An EC2 Query endpoint that keeps every request and answers DescribeTags in two pages. */
async function ec2Endpoint(t: TestContext): Promise<{ url: string; arrived: Arrived[] }> {
  const arrived: Arrived[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      arrived.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers as Record<string, string>, body });
      const second = new URLSearchParams(body).get('NextToken') === 'page-2';
      const item = (id: string, key: string, value: string): string =>
        `<item><resourceId>${id}</resourceId><resourceType>instance</resourceType><key>${key}</key><value>${value}</value></item>`;
      res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><DescribeTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><tagSet>' +
          (second ? item('i-0bbbbbbbbbbbbbbb2', 'Name', 'b &amp; c') : item('i-0aaaaaaaaaaaaaaa1', 'Name', 'web')) +
          `</tagSet>${second ? '' : '<nextToken>page-2</nextToken>'}</DescribeTagsResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, arrived };
}

t.test('describeInstanceTags: every page it sends is signed as AWS checks it', async (t) => {
  const { url, arrived } = await ec2Endpoint(t);
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  for (const sessionToken of [undefined, 'token/with+chars=']) {
    process.env = {
      ...saved,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...(sessionToken ? { AWS_SESSION_TOKEN: sessionToken } : {}),
    };
    if (!sessionToken) delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    arrived.length = 0;
    const when = new Date('2025-01-02T03:04:05Z');
    const tags = await describeInstanceTags(['i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2'], { region: 'eu-west-1', profile: '', endpoint: url }, () => when);
    t.same(Object.fromEntries(tags), { 'i-0aaaaaaaaaaaaaaa1': { Name: 'web' }, 'i-0bbbbbbbbbbbbbbb2': { Name: 'b & c' } }, 'both pages read');
    t.equal(arrived.length, 2, 'two requests');
    for (const request of arrived) {
      const auth = parseAuthorization(request.headers.authorization);
      t.match(auth, { accessKeyId: 'AKIDEXAMPLE', day: '20250102', region: 'eu-west-1', service: 'ec2' }, 'the credential scope: EC2 in the region');
      t.equal(request.headers['x-amz-date'], '20250102T030405Z');
      t.equal(request.headers['x-amz-security-token'], sessionToken, 'the session token, when there is one');
      for (const name of ['host', 'content-type', 'x-amz-date', ...(sessionToken ? ['x-amz-security-token'] : [])]) {
        t.ok(auth?.signedHeaders.includes(name), `${name} is signed`);
      }
      if (request.headers['x-amz-content-sha256'] !== undefined) {
        t.equal(request.headers['x-amz-content-sha256'], createHash('sha256').update(request.body).digest('hex'), 'the payload hash header is that of the body');
      }
      const expected = signature(request, auth?.signedHeaders ?? [], { date: '20250102T030405Z', region: 'eu-west-1', service: 'ec2' }, secret);
      t.equal(auth?.signature, expected, 'the signature holds for the bytes that arrived');
      t.equal(new URLSearchParams(request.body).get('Action'), 'DescribeTags');
    }
    t.equal(new URLSearchParams(arrived[1]?.body).get('NextToken'), 'page-2', 'the second page asked for with the token');
  }
});
