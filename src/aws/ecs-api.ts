import { loadEcsSdk } from './load-sdk.ts';
import type { ApiSettings } from './ssm-api.ts';
import { requestHandlerOptions } from './request-handler.ts';

/**
 * An ECS client for these settings (the endpoint, when given, is ECS's own), with proxy
 * and CA bundle support. Loads the SDK on first use.
 */
export async function createEcsClient(settings: ApiSettings): Promise<import('@aws-sdk/client-ecs').ECSClient> {
  const sdk = await loadEcsSdk();
  const region = settings.region || undefined;
  const endpoint = settings.endpoint || undefined;
  return new sdk.ECSClient({
    region,
    ...(settings.profile ? { profile: settings.profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 3,
    requestHandler: requestHandlerOptions(endpoint ?? `https://ecs.${region ?? 'us-east-1'}.amazonaws.com`),
  });
}
