// Our SigV4 signer for the one Query call without an SDK client (EC2 DescribeTags) against
// the SDK's own signer (@smithy/signature-v4, an independent implementation): the same
// Authorization header for the same request, with and without a session token, on the
// default port and on another one.
import t from 'tap';
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { signFormPost } from '../src/aws/sigv4.ts';

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

t.test('the same signature as the SDK', async (t) => {
  const when = new Date('2024-05-06T07:08:09Z');
  const body = new URLSearchParams({ Action: 'DescribeTags', Version: '2016-11-15', 'Filter.1.Name': 'resource-id', 'Filter.1.Value.1': 'i-0123456789abcdef0' }).toString();
  const cases = [
    { url: 'https://ec2.eu-west-1.amazonaws.com/', region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' } },
    { url: 'http://127.0.0.1:4566/', region: 'us-east-1', credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+chars=' } },
  ];
  for (const c of cases) {
    const url = new URL(c.url);
    const ours = signFormPost(url, body, 'ec2', c.region, c.credentials, when).headers;
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
    t.equal(ours.authorization, theirs.headers.authorization, `${c.url}: Authorization`);
    t.equal(ours['x-amz-date'], theirs.headers['x-amz-date'], 'X-Amz-Date');
    t.equal(ours['x-amz-security-token'], theirs.headers['x-amz-security-token'], 'the session token header, when there is one');
  }
});
