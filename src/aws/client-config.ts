import { requestHandlerOptions, type ApiSettings } from './ssm-api.ts';

/**
 * The SDK client configuration for a service other than SSM (ECS, EC2): region and
 * profile when given, the service's own endpoint when given, three attempts, and the
 * proxy and CA bundle support of requestHandlerOptions.
 */
export function serviceClientConfig(settings: ApiSettings, service: string) {
  const region = settings.region || undefined;
  const endpoint = settings.endpoint || undefined;
  return {
    region,
    ...(settings.profile ? { profile: settings.profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 3,
    requestHandler: requestHandlerOptions(endpoint ?? `https://${service}.${region ?? 'us-east-1'}.amazonaws.com`),
  };
}
