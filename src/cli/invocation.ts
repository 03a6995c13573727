import { getFold } from '../protocol/payloads.ts';

export const ENV_RESPONSE_PREFIX = 'AWS_SSM_START_SESSION_RESPONSE';

export const INSTALL_CHECK_TEXT =
  '\nThe Session Manager plugin was installed successfully. Use the AWS CLI to start a session.\n\n';

export function unknownOperationText(operation: string): string {
  return `\nUnknown operation ${operation}. \nUse session-manager-plugin --version to check the version.\n\n`;
}

/** Everything a StartSession invocation gives us (PROTOCOL.md §1). */
export interface StartRequest {
  sessionId: string;
  tokenValue: string;
  streamUrl: string;
  region: string;
  profile: string;
  target: string;
  /** The API endpoint the AWS CLI used (argv[6]); may be an ECS endpoint. */
  endpoint: string;
  /** Only 4 arguments: an old CLI that cannot do KMS encryption (§8.6). */
  legacy: boolean;
  /** The whole request parameters JSON of argv[5]. */
  parameters: Record<string, unknown>;
}

export type Invocation =
  | { kind: 'install-check' }
  | { kind: 'version' }
  | { kind: 'unknown-operation'; operation: string }
  | { kind: 'invalid-operation' }
  | { kind: 'start'; request: StartRequest; responseFromEnv: boolean }
  | { kind: 'bad-input'; message: string; responseFromEnv: boolean };

/**
 * Interprets the plugin's argv (without argv[0]) exactly as the AWS CLI passes it. When
 * argv[1] names an AWS_SSM_START_SESSION_RESPONSE variable, that variable is read and
 * removed from `env`, keeping the token out of the process list and of children.
 * Error messages never contain the token or the response text.
 */
export function parseInvocation(args: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  if (args.length === 0) return { kind: 'install-check' };
  if (args.length === 1 && args[0] === '--version') return { kind: 'version' };
  if (args.length < 3) return { kind: 'unknown-operation', operation: args[0] ?? '' };
  if (args[2] !== 'StartSession') return { kind: 'invalid-operation' };

  const first = args[0] ?? '';
  const responseFromEnv = first.startsWith(ENV_RESPONSE_PREFIX);
  const bad = (message: string): Invocation => ({ kind: 'bad-input', message, responseFromEnv });

  let responseText: string;
  if (responseFromEnv) {
    const value = env[first];
    delete env[first];
    if (value === undefined) return bad(`environment variable ${first} is not set`);
    responseText = value;
  } else {
    responseText = first;
  }

  const response = parseJsonObject(responseText);
  if (!response) return bad('the StartSession response is not a JSON object');
  const fields: Record<string, string> = {};
  for (const key of ['SessionId', 'TokenValue', 'StreamUrl']) {
    const value = getFold(response, key);
    if (typeof value !== 'string' || value === '') return bad(`the StartSession response has no ${key}`);
    fields[key] = value;
  }

  let parameters: Record<string, unknown> = {};
  if (args.length >= 5 && args[4] !== '') {
    const parsed = parseJsonObject(args[4] ?? '');
    if (!parsed) return bad('the request parameters (argument 5) are not a JSON object');
    parameters = parsed;
  }
  const target = getFold(parameters, 'Target');
  if (target !== undefined && typeof target !== 'string') return bad('the request parameter Target is not a string');

  return {
    kind: 'start',
    responseFromEnv,
    request: {
      sessionId: fields.SessionId!,
      tokenValue: fields.TokenValue!,
      streamUrl: fields.StreamUrl!,
      region: args[1] ?? '',
      profile: args[3] ?? '',
      target: target ?? '',
      endpoint: args[5] ?? '',
      legacy: args.length === 3,
      parameters,
    },
  };
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
