import { serviceClientConfig } from './client-config.ts';
import { loadEc2Sdk } from './load-sdk.ts';
import type { ApiSettings } from './ssm-api.ts';

/**
 * An EC2 client for these settings (the endpoint, when given, is EC2's own), with proxy
 * and CA bundle support. Loads the SDK on first use.
 */
export async function createEc2Client(settings: ApiSettings): Promise<import('@aws-sdk/client-ec2').EC2Client> {
  const sdk = await loadEc2Sdk();
  return new sdk.EC2Client(serviceClientConfig(settings, 'ec2'));
}
