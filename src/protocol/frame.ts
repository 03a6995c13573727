import { createHash, timingSafeEqual } from 'node:crypto';
import {
  HEADER_LENGTH,
  MESSAGE_TYPE_WIDTH,
  MessageType,
  PAYLOAD_OFFSET,
  SCHEMA_VERSION,
} from './constants.ts';
import { readMessageId, writeMessageId } from './uuid.ts';

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

export interface DecodeOptions {
  /** Check the SHA-256 payload digest (default true). */
  verifyDigest?: boolean;
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
  return createHash('sha256').update(data).digest();
}

/** Serialises a frame: 120-byte header, space-padded type, swapped UUID halves, SHA-256 digest. */
export function encodeFrame(frame: Frame): Buffer {
  const type = frame.messageType;
  if (type.length === 0 || type.length > MESSAGE_TYPE_WIDTH || !/^[\x21-\x7e]+$/.test(type)) {
    throw new TypeError(`invalid message type: ${JSON.stringify(type)}`);
  }
  const payload = frame.payload;
  const out = Buffer.allocUnsafe(PAYLOAD_OFFSET + payload.length);
  out.writeUInt32BE(HEADER_LENGTH, 0);
  out.fill(0x20, 4, 4 + MESSAGE_TYPE_WIDTH);
  out.write(type, 4, 'latin1');
  out.writeUInt32BE(frame.schemaVersion >>> 0, 36);
  out.writeBigUInt64BE(BigInt(frame.createdDate), 40);
  out.writeBigInt64BE(BigInt(frame.sequenceNumber), 48);
  out.writeBigUInt64BE(BigInt(frame.flags), 56);
  writeMessageId(frame.messageId, out, 64);
  sha256(payload).copy(out, 80);
  out.writeUInt32BE(frame.payloadType >>> 0, 112);
  out.writeUInt32BE(payload.length, 116);
  payload.copy(out, PAYLOAD_OFFSET);
  return out;
}

/** Strips NULs from both ends of the type field, then white space (§3.2). */
function readMessageType(data: Buffer): string {
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
  if (!control && (messageType.length === 0 || !/^[\x21-\x7e]+$/.test(messageType))) {
    throw new FrameError('bad message type');
  }
  const createdDate = Number(data.readBigUInt64BE(40));
  if (!control && createdDate === 0) throw new FrameError('zero created date');
  const payloadLength = data.readUInt32BE(headerLength);
  const payload = data.subarray(headerLength + 4);
  if (payloadLength > payload.length) {
    throw new FrameError(`truncated payload (${payload.length} of ${payloadLength} bytes)`);
  }
  if (!control && payloadLength !== 0 && options.verifyDigest !== false) {
    const digest = sha256(payload);
    if (!timingSafeEqual(digest, data.subarray(80, 112))) throw new FrameError('digest mismatch');
  }
  return {
    messageType,
    schemaVersion: data.readUInt32BE(36),
    createdDate,
    sequenceNumber: Number(data.readBigInt64BE(48)),
    flags: Number(data.readBigUInt64BE(56)),
    messageId: readMessageId(data, 64),
    payloadType: data.readUInt32BE(112),
    payload,
  };
}

export { SCHEMA_VERSION };
