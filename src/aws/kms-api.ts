import type { ApiSettings } from './ssm-api.ts';
import { requestHandlerOptions } from './request-handler.ts';
import { loadKmsSdk } from './load-sdk.ts';
import { untrustedCertificateMessage } from '../net/tls-trust.ts';

export interface DataKey {
  plaintext: Buffer;
  ciphertextBlob: Buffer;
}

export type GenerateDataKey = (keyId: string, context: Record<string, string>) => Promise<DataKey>;

/**
 * KMS GenerateDataKey through the AWS SDK, loaded on first use. Region and profile come
 * from argv like the SSM calls; the endpoint is KMS's own (or AWS_ENDPOINT_URL_KMS), as
 * with the official client.
 */
export function kmsDataKeyGenerator(settings: ApiSettings): GenerateDataKey {
  return async (keyId, context) => {
    const sdk = await loadKmsSdk();
    const region = settings.region || undefined;
    const client = new sdk.KMSClient({
      region,
      ...(settings.profile ? { profile: settings.profile } : {}),
      maxAttempts: 3,
      requestHandler: requestHandlerOptions(process.env.AWS_ENDPOINT_URL_KMS ?? `https://kms.${region ?? 'us-east-1'}.amazonaws.com`),
    });
    try {
      const out = await client.send(new sdk.GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 64, EncryptionContext: context }));
      if (!out.Plaintext || !out.CiphertextBlob) throw new Error('the response has no key');
      return { plaintext: Buffer.from(out.Plaintext), ciphertextBlob: Buffer.from(out.CiphertextBlob) };
    } catch (err) {
      const untrusted = untrustedCertificateMessage(err);
      throw untrusted ? new Error(untrusted) : err;
    } finally {
      client.destroy();
    }
  };
}
