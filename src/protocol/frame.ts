import { hash } from 'node:crypto';
import {
  HEADER_LENGTH,
  MESSAGE_TYPE_WIDTH,
  MessageType,
  PAYLOAD_OFFSET,
  SCHEMA_VERSION,
} from './constants.ts';
import { readMessageId, writeMessageId, writeRandomMessageId } from './uuid.ts';

/** One data-channel message ("client message", PROTOCOL.md §3). */
export interface Frame {
  messageType: string;
  schemaVersion: number;
  /** Unix epoch milliseconds. */
  createdDate: number;
  sequenceNumber: number;
  flags: number;
  messageId: string;
  payloadType: number;
  payload: Buffer;
}

/** What encodeFrame needs: a Frame whose messageId may be left out (a random one is written). */
export type OutgoingFrame = Omit<Frame, 'messageId'> & { messageId?: string };

export interface DecodeOptions {
  /** Check the SHA-256 payload digest (default true). */
  verifyDigest?: boolean;
  /**
   * Make the MessageId's text form (default true). A receiver that only needs it for
   * acks can skip it (messageId is then '') and write acks from the wire bytes
   * (writeAcknowledgeFrame): one string less per frame.
   */
  messageId?: boolean;
}

/** A frame that fails validation on receipt; `reason` says which check. */
export class FrameError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`malformed frame: ${reason}`);
    this.name = 'FrameError';
    this.reason = reason;
  }
}

export function sha256(data: Buffer): Buffer {
  // One-shot: no Hash object per frame.
  return hash('sha256', data, 'buffer');
}

const TWO_TO_32 = 0x1_0000_0000;

/**
 * 64-bit big-endian integer fields. Values up to 2^53 (Date.now(), sequence numbers, flags)
 * are written without BigInt; anything larger (only hostile test input) takes the slow path.
 */
function writeInt64(out: Buffer, value: number, offset: number): void {
  if (!Number.isSafeInteger(value)) {
    out.writeBigInt64BE(BigInt(value), offset);
    return;
  }
  put32(out, Math.floor(value / TWO_TO_32), offset);
  put32(out, value, offset + 4);
}

function writeUInt64(out: Buffer, value: number, offset: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    out.writeBigUInt64BE(BigInt(value), offset);
    return;
  }
  put32(out, Math.floor(value / TWO_TO_32), offset);
  put32(out, value, offset + 4);
}

/**
 * The low 32 bits of an integer, big-endian (two's complement for negative values), as
 * plain byte stores: Buffer's writeUInt32BE validates its arguments through a wrapper
 * that cost more than the write, eight times per frame. Callers stay inside the buffer.
 */
function put32(out: Buffer, value: number, offset: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = value >>> 16;
  out[offset + 2] = value >>> 8;
  out[offset + 3] = value;
}

/** Writes a digest held as a one-byte string (hash(..., 'binary')) at `offset`. */
function putDigest(out: Buffer, digest: string, offset: number): void {
  for (let i = 0; i < 32; i++) out[offset + i] = digest.charCodeAt(i);
}

/** Whether the 32 bytes at `offset` are the digest held as a one-byte string. */
function digestMatches(data: Buffer, digest: string, offset: number): boolean {
  for (let i = 0; i < 32; i++) if (data[offset + i] !== digest.charCodeAt(i)) return false;
  return true;
}

function readUInt64(data: Buffer, offset: number): number {
  return data.readUInt32BE(offset) * TWO_TO_32 + data.readUInt32BE(offset + 4);
}

function readInt64(data: Buffer, offset: number): number {
  return data.readInt32BE(offset) * TWO_TO_32 + data.readUInt32BE(offset + 4);
}

/** Message types already checked to be printable ASCII (there are only a handful). */
const validTypes = new Set<string>();

function isValidType(type: string): boolean {
  if (validTypes.has(type)) return true;
  if (type.length === 0 || type.length > MESSAGE_TYPE_WIDTH || !/^[\x21-\x7e]+$/.test(type)) return false;
  if (validTypes.size < 64) validTypes.add(type);
  return true;
}

/** The first 40 header bytes (length, padded type, schema version 1) by type. */
const headerStarts = new Map<string, Buffer>();

function makeHeaderStart(type: string, schemaVersion: number): Buffer {
  const bytes = Buffer.alloc(40, 0x20);
  bytes.writeUInt32BE(HEADER_LENGTH, 0);
  bytes.write(type, 4, 'latin1');
  bytes.writeUInt32BE(schemaVersion, 36);
  return bytes;
}

/** A frame's first 40 bytes depend on its type and schema version only: made once each. */
function headerStart(type: string, schemaVersion: number): Buffer {
  if (schemaVersion !== SCHEMA_VERSION) return makeHeaderStart(type, schemaVersion);
  let bytes = headerStarts.get(type);
  if (bytes === undefined) {
    bytes = makeHeaderStart(type, schemaVersion);
    if (headerStarts.size < 64) headerStarts.set(type, bytes);
  }
  return bytes;
}

/**
 * Serialises a frame: 120-byte header, space-padded type, swapped UUID halves, SHA-256
 * digest, into a buffer from `allocate` (which must return exactly the size asked for).
 */
export function encodeFrame(frame: OutgoingFrame, allocate: (size: number) => Buffer = Buffer.allocUnsafe): Buffer {
  const type = frame.messageType;
  if (!isValidType(type)) {
    throw new TypeError(`invalid message type: ${JSON.stringify(type)}`);
  }
  const payload = frame.payload;
  const out = allocate(PAYLOAD_OFFSET + payload.length);
  out.set(headerStart(type, frame.schemaVersion >>> 0), 0);
  writeUInt64(out, frame.createdDate, 40);
  writeInt64(out, frame.sequenceNumber, 48);
  writeUInt64(out, frame.flags, 56);
  if (frame.messageId === undefined) writeRandomMessageId(out, 64);
  else writeMessageId(frame.messageId, out, 64);
  // As a one-byte string: a short-lived heap string is cheaper than a Buffer per frame.
  putDigest(out, hash('sha256', payload, 'binary'), 80);
  put32(out, frame.payloadType, 112);
  put32(out, payload.length, 116);
  out.set(payload, PAYLOAD_OFFSET);
  return out;
}

/** The type fields of the frames that make up nearly all traffic, as they appear on the wire. */
const COMMON_TYPES = [MessageType.Acknowledge, MessageType.OutputStreamData, MessageType.InputStreamData].map((type) => {
  const field = Buffer.alloc(MESSAGE_TYPE_WIDTH, 0x20);
  field.write(type, 'latin1');
  return { type, field };
});

/** Strips NULs from both ends of the type field, then white space (§3.2). */
function readMessageType(data: Buffer): string {
  for (const { type, field } of COMMON_TYPES) {
    if (data.compare(field, 0, MESSAGE_TYPE_WIDTH, 4, 4 + MESSAGE_TYPE_WIDTH) === 0) return type;
  }
  let start = 4;
  let end = 4 + MESSAGE_TYPE_WIDTH;
  while (start < end && data[start] === 0) start++;
  while (end > start && data[end - 1] === 0) end--;
  return data.toString('latin1', start, end).trim();
}

function isPublicationControl(type: string): boolean {
  return type === MessageType.StartPublication || type === MessageType.PausePublication;
}

/**
 * Parses and validates one received frame (§3.3). Throws FrameError for anything the
 * receiver must drop: short or truncated frames, a bad header length, an empty or
 * non-printable type, a zero CreatedDate, a digest mismatch.
 * The payload is a view into `data`, not a copy.
 * `verifyDigest: false` skips the digest check, as the real agent does (§3.3).
 */
export function decodeFrame(data: Buffer, options: DecodeOptions = {}): Frame {
  if (data.length < PAYLOAD_OFFSET) throw new FrameError(`short frame (${data.length} bytes)`);
  const headerLength = data.readUInt32BE(0);
  if (headerLength < HEADER_LENGTH || headerLength + 4 > data.length) {
    throw new FrameError(`header length ${headerLength}`);
  }
  const messageType = readMessageType(data);
  const control = isPublicationControl(messageType);
  if (!control && !isValidType(messageType)) {
    throw new FrameError('bad message type');
  }
  const createdDate = readUInt64(data, 40);
  if (!control && createdDate === 0) throw new FrameError('zero created date');
  const payloadLength = data.readUInt32BE(headerLength);
  const payload = data.subarray(headerLength + 4);
  if (payloadLength > payload.length) {
    throw new FrameError(`truncated payload (${payload.length} of ${payloadLength} bytes)`);
  }
  if (!control && payloadLength !== 0 && options.verifyDigest !== false) {
    // An integrity check, not a secret: a plain comparison is fine.
    if (!digestMatches(data, hash('sha256', payload, 'binary'), 80)) throw new FrameError('digest mismatch');
  }
  return {
    messageType,
    schemaVersion: data.readUInt32BE(36),
    createdDate,
    sequenceNumber: readInt64(data, 48),
    flags: readUInt64(data, 56),
    messageId: options.messageId === false ? '' : readMessageId(data, 64),
    payloadType: data.readUInt32BE(112),
    payload,
  };
}

export { SCHEMA_VERSION };
