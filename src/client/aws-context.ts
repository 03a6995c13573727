import type { SSMClient } from '@aws-sdk/client-ssm';
import { loadSsmSdk } from '../aws/load-sdk.ts';
import { createSsmClient, SsmSessionApi } from '../aws/ssm-api.ts';
import { kmsDataKeyGenerator, type GenerateDataKey } from '../aws/kms-api.ts';
import { untrustedCertificateMessage } from '../net/tls-trust.ts';
import type { SessionParameters } from '../session/session-contract.ts';
import { ssmSettings, type AwsOptions } from './aws-options.ts';
import { ClientError, messageOf } from './errors.ts';

export interface StartRequest {
  target: string;
  documentName?: string;
  parameters?: Record<string, string[]>;
  reason?: string;
}

/**
 * The AWS side of sessions for one set of options: one SSM client for StartSession, one
 * for ResumeSession/TerminateSession, and KMS data keys. Shared by every session a
 * forward or proxy starts, so the SDK and its connections are set up once.
 */
export class AwsContext {
  readonly api: SsmSessionApi;
  readonly generateDataKey: GenerateDataKey;
  private readonly options: AwsOptions;
  private client: Promise<SSMClient> | undefined;

  constructor(options: AwsOptions = {}) {
    this.options = options;
    this.api = new SsmSessionApi(ssmSettings(options));
    this.generateDataKey = kmsDataKeyGenerator(ssmSettings(options));
  }

  /** Calls SSM StartSession; a refusal becomes a ClientError naming the service's reason. */
  async startSession(request: StartRequest): Promise<SessionParameters> {
    let client: SSMClient;
    let sdk: Awaited<ReturnType<typeof loadSsmSdk>>;
    try {
      sdk = await loadSsmSdk();
      client = await (this.client ??= createSsmClient(ssmSettings(this.options)));
    } catch (err) {
      throw new ClientError('start-failed', `cannot call SSM: ${messageOf(err)}`);
    }
    try {
      const out = await client.send(
        new sdk.StartSessionCommand({
          Target: request.target,
          ...(request.documentName ? { DocumentName: request.documentName } : {}),
          ...(request.parameters ? { Parameters: request.parameters } : {}),
          ...(request.reason ? { Reason: request.reason } : {}),
        }),
      );
      if (!out.SessionId || !out.TokenValue || !out.StreamUrl) {
        throw new Error('the response has no session id, token or stream URL');
      }
      return { sessionId: out.SessionId, tokenValue: out.TokenValue, streamUrl: out.StreamUrl, target: request.target };
    } catch (err) {
      // No `cause`: SDK errors carry raw responses, which must not end up in a user's log.
      throw new ClientError('start-failed', `StartSession on ${request.target} failed: ${awsErrorDetail(err)}`);
    }
  }
}

/** An AWS SDK error as one line: its name (the service's error code) and message. */
export function awsErrorDetail(err: unknown): string {
  const untrusted = untrustedCertificateMessage(err);
  if (untrusted) return untrusted;
  const name = (err as { name?: string }).name;
  const message = messageOf(err);
  return name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message;
}
