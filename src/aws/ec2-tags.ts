import http from 'node:http';
import https from 'node:https';
import { createSsmClient, type ApiSettings } from './ssm-api.ts';
import { requestHandlerOptions } from './request-handler.ts';

/**
 * EC2 DescribeTags for instance ids: their tags (the Name tag is what people know an EC2
 * instance by; SSM's own APIs do not have them). One Query request per page, signed by
 * the SDK's own SigV4 signer with its credentials and region (those of an SSM client for
 * the same settings, told to sign for `ec2`), with the same proxy and CA handling as
 * every SDK call. No EC2 SDK client: it would make the SDK bundle every program loads a
 * megabyte larger, and the signer is already in it.
 */

const API_VERSION = '2016-11-15';
const PAGE = 1000;
const TIMEOUT_MS = 20_000;

/** The SDK's SigV4 signer (@smithy/signature-v4, inside the SDK bundle). */
type RequestSigner = Awaited<ReturnType<import('@aws-sdk/client-ssm').SSMClient['config']['signer']>>;

/** An EC2 error answer, or a transport failure; the message is for users. */
export class Ec2Error extends Error {
  override readonly name = 'Ec2Error';
}

/** Tags by instance id for `ids` (at most 200 per call: one filter's values). */
export async function describeInstanceTags(
  ids: readonly string[],
  settings: ApiSettings,
  now: () => Date = () => new Date(),
): Promise<Map<string, Record<string, string>>> {
  const client = await createSsmClient({ region: settings.region, profile: settings.profile, endpoint: '' });
  let signer: RequestSigner;
  let region: string;
  try {
    region = await client.config.region();
    // Resolved now, while the client is open (an SSO or role profile may need calls); the signer's provider keeps them.
    await client.config.credentials();
    signer = await client.config.signer();
  } finally {
    client.destroy();
  }
  const url = new URL(settings.endpoint || `https://ec2.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}/`);
  const tags = new Map<string, Record<string, string>>();
  let nextToken: string | undefined;
  do {
    const form = new URLSearchParams({ Action: 'DescribeTags', Version: API_VERSION, MaxResults: String(PAGE) });
    form.set('Filter.1.Name', 'resource-type');
    form.set('Filter.1.Value.1', 'instance');
    form.set('Filter.2.Name', 'resource-id');
    ids.forEach((id, i) => form.set(`Filter.2.Value.${i + 1}`, id));
    if (nextToken) form.set('NextToken', nextToken);
    const body = form.toString();
    const signed = await signer.sign(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname || '/',
        query: {},
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', host: url.host },
        body,
      },
      { signingService: 'ec2', signingRegion: region, signingDate: now() },
    );
    const xml = await post(url, body, signed.headers, settings);
    for (const item of xml.matchAll(/<item>([\s\S]*?)<\/item>/g)) {
      const entry = item[1] as string;
      const id = element(entry, 'resourceId');
      const key = element(entry, 'key');
      if (id !== undefined && key !== undefined) tags.set(id, { ...tags.get(id), [key]: element(entry, 'value') ?? '' });
    }
    nextToken = element(xml, 'nextToken') || undefined;
  } while (nextToken);
  return tags;
}

function post(url: URL, body: string, headers: Record<string, string>, settings: ApiSettings): Promise<string> {
  const agents = requestHandlerOptions(url.href);
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: secure ? agents.httpsAgent : agents.httpAgent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode === 200) return resolve(text);
          const code = element(text, 'Code') ?? `HTTP ${response.statusCode}`;
          reject(new Ec2Error(`EC2 DescribeTags: ${code}: ${element(text, 'Message') ?? 'no message'}`));
        });
        response.on('error', (err: Error) => reject(new Ec2Error(`EC2 DescribeTags: ${err.message}`)));
      },
    );
    request.setTimeout(TIMEOUT_MS, () => request.destroy(new Error('no answer in time')));
    request.on('error', (err: Error) => reject(new Ec2Error(`EC2 DescribeTags${settings.endpoint ? ` at ${url.host}` : ''}: ${err.message}`)));
    request.end(body);
  });
}

/** The text of the first `<name>` element, XML entities decoded. */
function element(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml) ?? (new RegExp(`<${name}\\s*/>`).test(xml) ? ['', ''] : null);
  if (!match) return undefined;
  return (match[1] as string).replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, entity: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (entity[0] !== '#') return named[entity.toLowerCase()] as string;
    return String.fromCodePoint(entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : Number(entity.slice(1)));
  });
}
