/** JSON and binary payload formats carried inside frames (PROTOCOL.md §3.6, §4). */

export interface Acknowledgement {
  AcknowledgedMessageType: string;
  AcknowledgedMessageId: string;
  AcknowledgedMessageSequenceNumber: number;
  IsSequentialMessage: boolean;
}

export function encodeAcknowledgement(type: string, messageId: string, sequenceNumber: number): Buffer {
  // Field order as the official Go encoder writes it.
  return Buffer.from(
    JSON.stringify({
      AcknowledgedMessageType: type,
      AcknowledgedMessageId: messageId,
      AcknowledgedMessageSequenceNumber: sequenceNumber,
      IsSequentialMessage: true,
    }),
  );
}

/** Looks up a key of a JSON object case-insensitively, as Go's decoder does. */
export function getFold(object: unknown, key: string): unknown {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return undefined;
  const record = object as Record<string, unknown>;
  if (key in record) return record[key];
  const lower = key.toLowerCase();
  for (const name of Object.keys(record)) {
    if (name.toLowerCase() === lower) return record[name];
  }
  return undefined;
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Returns the acknowledged sequence number, or undefined for an unusable ack. */
const SEQUENCE_KEY = Buffer.from('"AcknowledgedMessageSequenceNumber":');

export function decodeAcknowledgedSequence(payload: Buffer): number | undefined {
  const fast = acknowledgedSequenceFast(payload);
  if (fast !== undefined) return fast;
  const seq = getFold(parseJson(payload), 'AcknowledgedMessageSequenceNumber');
  return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : undefined;
}

/**
 * The common case without building a string or an object (one ack per frame sent): the
 * exact key once, followed by plain digits and a `,` or `}`. Anything else (other
 * spacing or case, a repeated key, a fraction) goes through the JSON parser.
 */
function acknowledgedSequenceFast(payload: Buffer): number | undefined {
  const at = payload.indexOf(SEQUENCE_KEY);
  if (at < 0 || payload[0] !== 0x7b) return undefined;
  let i = at + SEQUENCE_KEY.length;
  let value = 0;
  const start = i;
  for (; i < payload.length; i++) {
    const c = payload[i]!;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  const digits = i - start;
  if (digits === 0 || digits > 15 || (digits > 1 && payload[start] === 0x30)) return undefined;
  const next = payload[i];
  if (next !== 0x2c && next !== 0x7d) return undefined;
  // A repeated key (the parser takes the last) can only follow the digits, and only where
  // the rest is long enough to hold it: the agent's rest, `,"IsSequentialMessage":true}`,
  // is not, so the common ack is scanned once.
  if (payload.length - i > SEQUENCE_KEY.length && payload.indexOf(SEQUENCE_KEY, i) >= 0) return undefined;
  return value;
}

export function encodeFlag(code: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(code, 0);
  return out;
}

export function decodeFlag(payload: Buffer): number | undefined {
  return payload.length === 4 ? payload.readUInt32BE(0) : undefined;
}

export interface TerminalSize {
  cols: number;
  rows: number;
}

export function encodeSize(size: TerminalSize): Buffer {
  return Buffer.from(JSON.stringify({ cols: size.cols >>> 0, rows: size.rows >>> 0 }));
}

export function decodeSize(payload: Buffer): TerminalSize | undefined {
  const json = parseJson(payload);
  const cols = getFold(json, 'cols');
  const rows = getFold(json, 'rows');
  if (typeof cols !== 'number' || typeof rows !== 'number') return undefined;
  return { cols: cols & 0xffff, rows: rows & 0xffff };
}

/** The `Output` text of a channel_closed payload (§4.2); empty for a normal end. */
export function decodeChannelClosedOutput(payload: Buffer): string {
  const output = getFold(parseJson(payload), 'Output');
  return typeof output === 'string' ? output : '';
}

export interface ChannelClosedPayload {
  MessageId: string;
  CreatedDate: string;
  DestinationId: string;
  SessionId: string;
  MessageType: 'channel_closed';
  SchemaVersion: 1;
  Output: string;
}

export interface RequestedClientAction {
  ActionType: string;
  ActionParameters: unknown;
}

export interface HandshakeRequest {
  AgentVersion: string;
  RequestedClientActions: RequestedClientAction[];
}

export interface SessionTypeParameters {
  SessionType: string;
  Properties: Record<string, unknown> | null;
}

export const ActionStatus = { Success: 1, Failed: 2, Unsupported: 3 } as const;

export interface ProcessedClientAction {
  ActionType: string;
  ActionStatus: number;
  ActionResult: unknown;
  Error: string;
}

export interface HandshakeResponse {
  ClientVersion: string;
  ProcessedClientActions: ProcessedClientAction[];
  Errors: string[] | null;
}

export interface HandshakeComplete {
  HandshakeTimeToComplete: number;
  CustomerMessage: string;
}

/** Parses a HandshakeRequest with case-insensitive keys; undefined when unusable. */
export function decodeHandshakeRequest(payload: Buffer): HandshakeRequest | undefined {
  const json = parseJson(payload);
  const actions = getFold(json, 'RequestedClientActions');
  if (!Array.isArray(actions)) return undefined;
  const agentVersion = getFold(json, 'AgentVersion');
  return {
    AgentVersion: typeof agentVersion === 'string' ? agentVersion : '',
    RequestedClientActions: actions.map((action) => ({
      ActionType: String(getFold(action, 'ActionType') ?? ''),
      ActionParameters: getFold(action, 'ActionParameters'),
    })),
  };
}

export function decodeHandshakeComplete(payload: Buffer): HandshakeComplete | undefined {
  const json = parseJson(payload);
  if (json === undefined) return undefined;
  const time = getFold(json, 'HandshakeTimeToComplete');
  const message = getFold(json, 'CustomerMessage');
  return {
    HandshakeTimeToComplete: typeof time === 'number' ? time : 0,
    CustomerMessage: typeof message === 'string' ? message : '',
  };
}

export function decodeHandshakeResponse(payload: Buffer): HandshakeResponse | undefined {
  const json = parseJson(payload);
  const actions = getFold(json, 'ProcessedClientActions');
  if (!Array.isArray(actions)) return undefined;
  const version = getFold(json, 'ClientVersion');
  const errors = getFold(json, 'Errors');
  return {
    ClientVersion: typeof version === 'string' ? version : '',
    ProcessedClientActions: actions.map((action) => ({
      ActionType: String(getFold(action, 'ActionType') ?? ''),
      ActionStatus: Number(getFold(action, 'ActionStatus') ?? 0),
      ActionResult: getFold(action, 'ActionResult') ?? null,
      Error: String(getFold(action, 'Error') ?? ''),
    })),
    Errors: Array.isArray(errors) ? errors.map(String) : null,
  };
}
