import type { GenerateDataKey } from '../aws/kms-api.ts';
import type { SessionIO } from '../session/io.ts';
import type { SessionApi } from '../session/session-contract.ts';
import type { StartRequest } from './invocation.ts';

/** What the plugin runs with: the process's environment and streams, and the AWS calls (replaceable in tests). */
export interface PluginEnvironment {
  env: NodeJS.ProcessEnv;
  io: SessionIO;
  /** Overridable in tests; the real one calls SSM through the AWS SDK. */
  api?: (request: StartRequest) => SessionApi;
  /** Overridable in tests; the real one calls KMS GenerateDataKey through the AWS SDK. */
  generateDataKey?: GenerateDataKey;
}
