import { ResumeRefusedError, type SessionApi } from '../session/session-contract.ts';
import { ConfigurationError } from '../net/tls-trust.ts';
import { requestHandlerOptions } from './request-handler.ts';
import { loadSsmSdk } from './load-sdk.ts';

export interface ApiSettings {
  region: string;
  /** Profile from argv[4]; empty means the default credential chain. */
  profile: string;
  /** Endpoint from argv[6]; may be the ECS endpoint for `aws ecs execute-command`. */
  endpoint: string;
}

/**
 * The SSM endpoint to use: argv[6] unless it is not an SSM endpoint (ECS exec passes the
 * ECS endpoint there, quirk Q14), in which case the SDK's regional default.
 */
export function ssmEndpointFor(endpoint: string): string | undefined {
  if (!endpoint) return undefined;
  try {
    const host = new URL(endpoint).hostname;
    if (/^ecs[.-]/i.test(host)) return undefined;
  } catch {
    return undefined;
  }
  return endpoint;
}

/** SSM ResumeSession / TerminateSession through the AWS SDK, loaded on first use. */
export class SsmSessionApi implements SessionApi {
  private readonly settings: ApiSettings;
  private client: Promise<import('@aws-sdk/client-ssm').SSMClient> | undefined;

  constructor(settings: ApiSettings) {
    this.settings = settings;
  }

  async terminateSession(sessionId: string): Promise<void> {
    const sdk = await loadSsmSdk();
    const client = await this.getClient();
    await client.send(new sdk.TerminateSessionCommand({ SessionId: sessionId }));
  }

  async resumeSession(sessionId: string): Promise<{ tokenValue: string | undefined; streamUrl: string | undefined }> {
    try {
      const sdk = await loadSsmSdk();
      const client = await this.getClient();
      const out = await client.send(new sdk.ResumeSessionCommand({ SessionId: sessionId }));
      return { tokenValue: out.TokenValue, streamUrl: out.StreamUrl };
    } catch (err) {
      if (!resumeCannotSucceed(err)) throw err;
      // No `cause`: SDK errors carry raw responses, which must not end up in a user's log.
      throw new ResumeRefusedError(err instanceof Error ? err.message : String(err));
    }
  }

  private getClient(): Promise<import('@aws-sdk/client-ssm').SSMClient> {
    this.client ??= createSsmClient(this.settings);
    return this.client;
  }
}

/**
 * SDK errors after which ResumeSession cannot succeed, whatever is retried: the SDK's
 * error name is the service's error code (or the SDK's own class for credentials and
 * configuration); ConfigurationError is ours (an unreadable AWS_CA_BUNDLE).
 */
const FINAL_RESUME_ERRORS = new Set([
  'DoesNotExistException',
  'InvalidSessionId',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ValidationException',
  'CredentialsProviderError',
]);

function resumeCannotSucceed(err: unknown): boolean {
  return err instanceof ConfigurationError || (err instanceof Error && FINAL_RESUME_ERRORS.has(err.name));
}

/**
 * An SSM client for these settings (region, profile, endpoint; empty strings mean the
 * SDK's defaults), with proxy and CA bundle support. Loads the SDK on first use.
 */
export async function createSsmClient(settings: ApiSettings): Promise<import('@aws-sdk/client-ssm').SSMClient> {
  const sdk = await loadSsmSdk();
  const endpoint = ssmEndpointFor(settings.endpoint);
  const region = settings.region || undefined;
  return new sdk.SSMClient({
    region,
    ...(settings.profile ? { profile: settings.profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 3,
    requestHandler: requestHandlerOptions(endpoint ?? `https://ssm.${region ?? 'us-east-1'}.amazonaws.com`),
  });
}
