import { getFold } from '../../protocol/payloads.ts';

/**
 * Client payloads as the agent's Go code reads them (encoding/json into the structs of
 * agent/session/contracts/model.go): field names match case-insensitively, a value of the
 * wrong JSON type is an error for the whole message, null leaves the zero value, and
 * []byte fields are base64 as encoding/base64's StdEncoding reads it.
 */

/** StdEncoding: padded, the standard alphabet; CR and LF are skipped; anything else is an error. */
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function decodeGoBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\r\n]/g, '');
  return STD_BASE64.test(compact) ? Buffer.from(compact, 'base64') : undefined;
}

/** A []byte field: null or absent is an empty value; anything but valid base64 text is an error. */
function bytesField(value: unknown): Buffer | undefined {
  if (value === undefined || value === null) return Buffer.alloc(0);
  return typeof value === 'string' ? decodeGoBase64(value) : undefined;
}

const isStringish = (value: unknown): boolean => value === undefined || value === null || typeof value === 'string';
const isObjectish = (value: unknown): boolean =>
  value === undefined || value === null || (typeof value === 'object' && !Array.isArray(value));
const asString = (value: unknown): string => (typeof value === 'string' ? value : '');

function parse(payload: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

export interface AgentProcessedAction {
  ActionType: string;
  ActionStatus: number;
  /** json.RawMessage: whatever JSON was there (undefined when absent). */
  ActionResult: unknown;
  Error: string;
}

export interface AgentHandshakeResponse {
  ClientVersion: string;
  ProcessedClientActions: AgentProcessedAction[];
}

/** HandshakeResponsePayload; undefined where json.Unmarshal would fail. */
export function parseHandshakeResponse(payload: Buffer): AgentHandshakeResponse | undefined {
  const parsed = parse(payload);
  if (!parsed.ok || !isObjectish(parsed.value)) return undefined;
  const json = parsed.value;
  const version = getFold(json, 'ClientVersion');
  const actions = getFold(json, 'ProcessedClientActions') ?? null;
  const errors = getFold(json, 'Errors') ?? null;
  if (!isStringish(version)) return undefined;
  if (actions !== null && !Array.isArray(actions)) return undefined;
  if (errors !== null && (!Array.isArray(errors) || !errors.every(isStringish))) return undefined;
  const result: AgentProcessedAction[] = [];
  for (const action of (actions ?? []) as unknown[]) {
    if (!isObjectish(action)) return undefined;
    const type = getFold(action, 'ActionType');
    const status = getFold(action, 'ActionStatus') ?? null;
    const error = getFold(action, 'Error');
    if (!isStringish(type) || !isStringish(error)) return undefined;
    if (status !== null && !(typeof status === 'number' && Number.isSafeInteger(status))) return undefined;
    result.push({
      ActionType: asString(type),
      ActionStatus: (status as number | null) ?? 0,
      ActionResult: getFold(action, 'ActionResult'),
      Error: asString(error),
    });
  }
  return { ClientVersion: asString(version), ProcessedClientActions: result };
}

export interface AgentKmsEncryptionResponse {
  KMSCipherTextKey: Buffer;
  ChallengeAcknowledgement: boolean;
}

/** KMSEncryptionResponse from an ActionResult; a string error where json.Unmarshal fails. */
export function parseKmsEncryptionResponse(actionResult: unknown): AgentKmsEncryptionResponse | { error: string } {
  if (!isObjectish(actionResult)) return { error: 'json: cannot unmarshal into Go value of type contracts.KMSEncryptionResponse' };
  const key = bytesField(getFold(actionResult, 'KMSCipherTextKey'));
  const hash = bytesField(getFold(actionResult, 'KMSCipherTextHash'));
  const acknowledged = getFold(actionResult, 'ChallengeAcknowledgement') ?? null;
  // Go names the offset of the first bad quantum; the simulator does not compute it.
  if (key === undefined || hash === undefined) return { error: 'illegal base64 data' };
  if (acknowledged !== null && typeof acknowledged !== 'boolean') {
    return { error: 'json: cannot unmarshal into Go struct field KMSEncryptionResponse.ChallengeAcknowledgement of type bool' };
  }
  return { KMSCipherTextKey: key, ChallengeAcknowledgement: acknowledged === true };
}

/** EncryptionChallengeResponse's Challenge bytes; undefined where json.Unmarshal fails. */
export function parseChallengeResponse(payload: Buffer): Buffer | undefined {
  const parsed = parse(payload);
  if (!parsed.ok || !isObjectish(parsed.value)) return undefined;
  return bytesField(getFold(parsed.value, 'Challenge'));
}
