import type { SessionApi } from '../session/plugin-session.ts';
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
    const sdk = await loadSsmSdk();
    const client = await this.getClient();
    const out = await client.send(new sdk.ResumeSessionCommand({ SessionId: sessionId }));
    return { tokenValue: out.TokenValue, streamUrl: out.StreamUrl };
  }

  private getClient(): Promise<import('@aws-sdk/client-ssm').SSMClient> {
    this.client ??= loadSsmSdk().then((sdk) => {
      const endpoint = ssmEndpointFor(this.settings.endpoint);
      return new sdk.SSMClient({
        region: this.settings.region || undefined,
        ...(this.settings.profile ? { profile: this.settings.profile } : {}),
        ...(endpoint ? { endpoint } : {}),
        maxAttempts: 3,
      });
    });
    return this.client;
  }
}
