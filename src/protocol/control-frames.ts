import { hash } from 'node:crypto';
import { HeaderFlags, MessageType, PAYLOAD_OFFSET, SCHEMA_VERSION } from './constants.ts';
import { encodeFrame, type Frame } from './frame.ts';
import { encodeAcknowledgement } from './payloads.ts';
import { writeRandomMessageId } from './uuid.ts';

/**
 * A frame outside the sequence (acknowledge, channel_closed, publication control,
 * agent_session_state): Seq 0, Flags 3, a fresh MessageId, the current time (§3.5, §4.1).
 */
export function encodeUnsequencedFrame(messageType: string, payload: Buffer = Buffer.alloc(0), payloadType = 0): Buffer {
  return encodeFrame({
    messageType,
    schemaVersion: SCHEMA_VERSION,
    createdDate: Date.now(),
    sequenceNumber: 0,
    flags: HeaderFlags.SynFin,
    payloadType,
    payload,
  });
}

/** The acknowledge frame for a received sequenced frame (§4.1). */
export function encodeAcknowledgeFrame(acknowledged: Frame): Buffer {
  return encodeUnsequencedFrame(
    MessageType.Acknowledge,
    encodeAcknowledgement(acknowledged.messageType, acknowledged.messageId, acknowledged.sequenceNumber),
  );
}

// The acknowledge payload (§4.1) in the official field order, around its three variable
// parts: the acknowledged type, its MessageId in text form, its sequence number.
const ACK_TYPE_PREFIX = '{"AcknowledgedMessageType":"';
const ACK_ID_PREFIX = '","AcknowledgedMessageId":"';
const ACK_SEQUENCE_PREFIX = '","AcknowledgedMessageSequenceNumber":';
const ACK_SUFFIX = ',"IsSequentialMessage":true}';
const UUID_TEXT_LENGTH = 36;

/** The frame header up to CreatedDate (length, type, schema) and the payload up to the id, per acknowledged type. */
const ackTemplates = new Map<string, { header: Buffer; payloadHead: Buffer }>();

function ackTemplate(acknowledgedType: string): { header: Buffer; payloadHead: Buffer } {
  let template = ackTemplates.get(acknowledgedType);
  if (!template) {
    const sample = encodeUnsequencedFrame(MessageType.Acknowledge);
    template = {
      header: Buffer.from(sample.subarray(0, 40)),
      payloadHead: Buffer.from(`${ACK_TYPE_PREFIX}${acknowledgedType}${ACK_ID_PREFIX}`, 'latin1'),
    };
    if (ackTemplates.size < 8) ackTemplates.set(acknowledgedType, template);
  }
  return template;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Writes two lowercase hex digits per byte of source[from, to) at target[at]; returns the next offset. */
function writeHex(source: Buffer, from: number, to: number, target: Buffer, at: number): number {
  for (let i = from; i < to; i++) {
    const byte = source[i]!;
    target[at++] = HEX[byte >> 4]!;
    target[at++] = HEX[byte & 15]!;
  }
  return at;
}

/** Decimal digits of a non-negative safe integer. */
function decimalLength(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/**
 * Writes a non-negative safe integer in decimal at target[at] (`digits` long); returns the
 * next offset. No String(value): V8 keeps number-to-string results in its number-string
 * cache, so one string per acknowledged sequence number outlived the young generation
 * (a quarter of what a download promoted to the old generation, where it lingers until a
 * full GC).
 */
function writeDecimal(value: number, digits: number, target: Buffer, at: number): number {
  let rest = value;
  for (let i = at + digits - 1; i >= at; i--) {
    target[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}

/**
 * The acknowledge frame for a received frame, written straight from its wire bytes into
 * one buffer from `allocate`: the MessageId's text form is made from the wire bytes in
 * place (their halves swapped back, §3.2), with no JSON object, id string or intermediate
 * payload Buffer. Byte for byte what encodeAcknowledgeFrame builds, bar the fresh
 * MessageId and CreatedDate. `received` must be a frame decodeFrame accepted.
 */
export function writeAcknowledgeFrame(
  received: Buffer,
  acknowledgedType: string,
  sequenceNumber: number,
  allocate: (size: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const { header, payloadHead } = ackTemplate(acknowledgedType);
  // A negative or unsafe number (not sent by a real peer) is written as String() writes it.
  const plain = Number.isSafeInteger(sequenceNumber) && sequenceNumber >= 0;
  const sequence = plain ? '' : String(sequenceNumber);
  const digits = plain ? decimalLength(sequenceNumber) : sequence.length;
  const payloadLength =
    payloadHead.length + UUID_TEXT_LENGTH + ACK_SEQUENCE_PREFIX.length + digits + ACK_SUFFIX.length;
  const out = allocate(PAYLOAD_OFFSET + payloadLength);
  header.copy(out, 0);
  const now = Date.now();
  out.writeUInt32BE(Math.floor(now / 0x1_0000_0000), 40);
  out.writeUInt32BE(now >>> 0, 44);
  out.fill(0, 48, 60); // SequenceNumber 0 and the high half of Flags
  out.writeUInt32BE(HeaderFlags.SynFin, 60);
  writeRandomMessageId(out, 64);
  out.writeUInt32BE(0, 112); // PayloadType
  out.writeUInt32BE(payloadLength, 116);
  // Payload. Wire bytes 64..71 are the UUID's b[8..15], 72..79 its b[0..7].
  let at = PAYLOAD_OFFSET + payloadHead.copy(out, PAYLOAD_OFFSET);
  at = writeHex(received, 72, 76, out, at);
  out[at++] = 0x2d;
  at = writeHex(received, 76, 78, out, at);
  out[at++] = 0x2d;
  at = writeHex(received, 78, 80, out, at);
  out[at++] = 0x2d;
  at = writeHex(received, 64, 66, out, at);
  out[at++] = 0x2d;
  at = writeHex(received, 66, 72, out, at);
  at += out.write(ACK_SEQUENCE_PREFIX, at, 'latin1');
  at = plain ? writeDecimal(sequenceNumber, digits, out, at) : at + out.write(sequence, at, 'latin1');
  out.write(ACK_SUFFIX, at, 'latin1');
  out.write(hash('sha256', out.subarray(PAYLOAD_OFFSET), 'binary'), 80, 32, 'latin1');
  return out;
}
