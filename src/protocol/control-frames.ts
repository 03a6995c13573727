import { HeaderFlags, MessageType, SCHEMA_VERSION } from './constants.ts';
import { encodeFrame, type Frame } from './frame.ts';
import { encodeAcknowledgement } from './payloads.ts';

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
