import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 written from the specification, for tests: it checks the
 * requests the programs send (signed by the SDK's signer) the way AWS does, from what
 * arrives: method, path, the headers named in SignedHeaders, the body.
 */

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** The signature of a request without a query string, over `signedHeaders` (lower-case names). */
export function signature(
  request: { method: string; path: string; headers: Record<string, string>; body: string | Buffer },
  signedHeaders: readonly string[],
  scope: { date: string; region: string; service: string },
  secretAccessKey: string,
): string {
  const names = [...signedHeaders].sort();
  const canonical = [
    request.method,
    request.path || '/',
    '',
    ...names.map((name) => `${name}:${(request.headers[name] ?? '').trim().replace(/\s+/g, ' ')}`),
    '',
    names.join(';'),
    sha256(request.body),
  ].join('\n');
  const day = scope.date.slice(0, 8);
  const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', scope.date, credentialScope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), scope.region), scope.service), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

/** The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header, or undefined. */
export function parseAuthorization(header: string | undefined): { accessKeyId: string; day: string; region: string; service: string; signedHeaders: string[]; signature: string } | undefined {
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return undefined;
  const [, accessKeyId, day, region, service, signed, sig] = match as unknown as string[];
  return { accessKeyId: accessKeyId as string, day: day as string, region: region as string, service: service as string, signedHeaders: (signed as string).split(';'), signature: sig as string };
}
