import { serviceClientConfig } from './client-config.ts';
import { loadEcsSdk } from './load-sdk.ts';
import type { ApiSettings } from './ssm-api.ts';

/**
 * An ECS client for these settings (the endpoint, when given, is ECS's own), with proxy
 * and CA bundle support. Loads the SDK on first use.
 */
export async function createEcsClient(settings: ApiSettings): Promise<import('@aws-sdk/client-ecs').ECSClient> {
  const sdk = await loadEcsSdk();
  return new sdk.ECSClient(serviceClientConfig(settings, 'ecs'));
}
