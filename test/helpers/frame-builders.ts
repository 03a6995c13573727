// Client-side frames built straight from the codec, for tests that feed an agent channel
// (or the gateway) by hand.
import { encodeFrame } from '../../src/protocol/frame.ts';
import { newUuid } from '../../src/protocol/uuid.ts';

/** One input_stream_data frame: Flags 0, a fresh MessageId, the current CreatedDate. */
export function inputFrame(seq: number, payload: string | Buffer, payloadType = 1): Buffer {
  return encodeFrame({
    messageType: 'input_stream_data',
    schemaVersion: 1,
    createdDate: Date.now(),
    sequenceNumber: seq,
    flags: 0,
    messageId: newUuid(),
    payloadType,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  });
}

/** A control frame as clients send them: sequence 0, Flags 3, PayloadType 0. */
export function controlFrame(messageType: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  return encodeFrame({
    messageType,
    schemaVersion: 1,
    createdDate: Date.now(),
    sequenceNumber: 0,
    flags: 3,
    messageId: newUuid(),
    payloadType: 0,
    payload,
  });
}
