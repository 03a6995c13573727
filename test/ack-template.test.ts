import t from 'tap';
import { decodeFrame, encodeFrame } from '../src/protocol/frame.ts';
import { encodeAcknowledgeFrame, writeAcknowledgeFrame } from '../src/protocol/control-frames.ts';
import { writeMessageId } from '../src/protocol/uuid.ts';
import { ACK_HEADER_HEX } from './helpers/protocol-vectors.ts';

// PROTOCOL.md §3.7, third vector: the acknowledge frame's 120-byte header for the §4.1 payload.
const VECTOR_HEADER = Buffer.from(ACK_HEADER_HEX, 'hex');
const VECTOR_PAYLOAD =
  '{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","AcknowledgedMessageSequenceNumber":5,"IsSequentialMessage":true}';

/** A received frame as it came over the wire. */
function received(messageType: string, messageId: string, sequenceNumber: number): Buffer {
  return encodeFrame({ messageType, schemaVersion: 1, createdDate: 1700000000000, sequenceNumber, flags: 0, messageId, payloadType: 1, payload: Buffer.from('x') });
}

/** Sets an ack's own CreatedDate and MessageId, the two fields that differ from ack to ack. */
function pin(ack: Buffer, createdDate: number, messageId: string): Buffer {
  const copy = Buffer.from(ack);
  copy.writeBigUInt64BE(BigInt(createdDate), 40);
  writeMessageId(messageId, copy, 64);
  return copy;
}

t.test('the template ack is the §3.7 acknowledge vector byte for byte', async (t) => {
  t.equal(VECTOR_HEADER.length, 120);
  const wire = received('output_stream_data', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 5);
  const ack = pin(writeAcknowledgeFrame(wire, 'output_stream_data', 5), 1700000000123, '123e4567-e89b-42d3-a456-426614174000');
  t.equal(ack.length, 120 + 176);
  t.equal(ack.subarray(0, 120).toString('hex'), VECTOR_HEADER.toString('hex'), 'header, digest included');
  t.equal(ack.subarray(120).toString('latin1'), VECTOR_PAYLOAD, '§4.1 payload');
});

t.test('the template ack equals one built the slow way (JSON, id string) for any id, type and sequence', async (t) => {
  const ids = ['00000000-0000-4000-8000-000000000000', 'ffffffff-ffff-4fff-bfff-ffffffffffff', '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9'];
  const sequences = [0, 1, 9, 10, 99, 100, 1000, 65535, 2 ** 31, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER, -1, -12345];
  for (const type of ['output_stream_data', 'input_stream_data']) {
    for (const id of ids) {
      for (const seq of sequences) {
        const wire = received(type, id, seq);
        const slow = encodeAcknowledgeFrame(decodeFrame(wire));
        const fast = writeAcknowledgeFrame(wire, type, seq);
        const ownId = '123e4567-e89b-42d3-a456-426614174000';
        t.equal(
          pin(fast, 1700000000123, ownId).toString('hex'),
          pin(slow, 1700000000123, ownId).toString('hex'),
          `${type} ${id} ${seq}`,
        );
        const decoded = decodeFrame(fast); // the digest checks out
        t.equal(decoded.messageType, 'acknowledge');
        t.equal(decoded.flags, 3);
        t.equal(decoded.sequenceNumber, 0);
        t.ok(Math.abs(decoded.createdDate - Date.now()) < 60_000, 'the current time');
      }
    }
  }
});

t.test('the sequence number is written without a string', async (t) => {
  // String(n) results stay in V8's number-string cache, one per acknowledged frame, long
  // enough to be promoted to the old generation: a download's largest promoted garbage.
  const wire = received('output_stream_data', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 123456789);
  const original = globalThis.String;
  let calls = 0;
  globalThis.String = new Proxy(original, { apply: (target, self, args) => (calls++, Reflect.apply(target, self, args)) });
  let ack: Buffer;
  try {
    ack = writeAcknowledgeFrame(wire, 'output_stream_data', 123456789);
  } finally {
    globalThis.String = original;
  }
  t.equal(calls, 0, 'no String() call');
  t.match(ack.subarray(120).toString('latin1'), /"AcknowledgedMessageSequenceNumber":123456789,/);
});

t.test('each template ack has a fresh MessageId and its own buffer', async (t) => {
  const wire = received('output_stream_data', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 5);
  const a = writeAcknowledgeFrame(wire, 'output_stream_data', 5);
  const b = writeAcknowledgeFrame(wire, 'output_stream_data', 5);
  t.not(decodeFrame(a).messageId, decodeFrame(b).messageId);
  t.not(a.buffer === b.buffer && a.byteOffset === b.byteOffset, true, 'not the same memory');
});

t.test('decodeFrame can skip the MessageId text', async (t) => {
  const wire = received('output_stream_data', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 5);
  t.equal(decodeFrame(wire, { messageId: false }).messageId, '');
  t.equal(decodeFrame(wire).messageId, '7c9e6679-7425-40de-944b-e07fc1f90ae7');
});
