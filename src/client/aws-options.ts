import type { ApiSettings } from '../aws/ssm-api.ts';

/**
 * Where and as whom the library calls AWS. Everything is optional: the SDK's normal
 * credential chain, region resolution and endpoints apply to what is left out.
 * KMS-encrypted sessions use KMS's default endpoint, or AWS_ENDPOINT_URL_KMS.
 */
export interface AwsOptions {
  region?: string;
  /** A named profile from the shared config files. */
  profile?: string;
  /** SSM endpoint (StartSession, ResumeSession, TerminateSession, DescribeInstanceInformation). */
  endpoint?: string;
  /** ECS endpoint, for ECS task targets. */
  ecsEndpoint?: string;
  /** EC2 endpoint, for the Name tags of EC2 instances in listings. */
  ec2Endpoint?: string;
}

/** The SSM client settings for these options (empty strings mean the SDK's defaults). */
export function ssmSettings(aws: AwsOptions = {}): ApiSettings {
  return { region: aws.region ?? '', profile: aws.profile ?? '', endpoint: aws.endpoint ?? '' };
}

/** The ECS client settings for these options. */
export function ecsSettings(aws: AwsOptions = {}): ApiSettings {
  return { region: aws.region ?? '', profile: aws.profile ?? '', endpoint: aws.ecsEndpoint ?? '' };
}

/** The EC2 client settings for these options. */
export function ec2Settings(aws: AwsOptions = {}): ApiSettings {
  return { region: aws.region ?? '', profile: aws.profile ?? '', endpoint: aws.ec2Endpoint ?? '' };
}
