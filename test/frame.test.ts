import t from 'tap';
import { decodeFrame, encodeFrame, FrameError, sha256 } from '../src/protocol/frame.ts';
import { readMessageId, writeMessageId } from '../src/protocol/uuid.ts';
import { encodeAcknowledgement } from '../src/protocol/payloads.ts';
import { ACK_HEADER_HEX } from './helpers/protocol-vectors.ts';

// Vectors from PROTOCOL.md §3.7, computed independently of this codec.
const LS_FRAME =
  '00000074696e7075745f73747265616d5f64617461202020202020202020202020202020000000010000018bcfe56800000000000000000000000000000000008695a4b3c2d1e0f90f1e2d3c4b5a49781d887ce0f8672e4914d9000e801cd74ecd805dd9366c0bc42dc16adc0197dc2f00000001000000036c730d';
const FLAG_FRAME =
  '00000074696e7075745f73747265616d5f64617461202020202020202020202020202020000000010000018bcfe569f4000000000000000700000000000000008c9d0e1f2a3b4c5da1b2c3d4e5f64a7b433ebf5bc03dffa38536673207a21281612cef5faa9bc7a4d5b9be2fdb12cf1a0000000a0000000400000002';

t.test('encodes the §3.7 keystroke vector byte for byte', async (t) => {
  const bytes = encodeFrame({
    messageType: 'input_stream_data',
    schemaVersion: 1,
    createdDate: 1700000000000,
    sequenceNumber: 0,
    flags: 0,
    messageId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
    payloadType: 1,
    payload: Buffer.from('ls\r'),
  });
  t.equal(bytes.length, 123);
  t.equal(bytes.toString('hex'), LS_FRAME);
});

t.test('encodes the §3.7 TerminateSession flag vector', async (t) => {
  const bytes = encodeFrame({
    messageType: 'input_stream_data',
    schemaVersion: 1,
    createdDate: 1700000000500,
    sequenceNumber: 7,
    flags: 0,
    messageId: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    payloadType: 10,
    payload: Buffer.from('00000002', 'hex'),
  });
  t.equal(bytes.toString('hex'), FLAG_FRAME);
});

t.test('encodes the §3.7 acknowledge header and §4.1 payload', async (t) => {
  const payload = encodeAcknowledgement('output_stream_data', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 5);
  t.equal(payload.length, 176);
  const bytes = encodeFrame({
    messageType: 'acknowledge',
    schemaVersion: 1,
    createdDate: 1700000000123,
    sequenceNumber: 0,
    flags: 3,
    messageId: '123e4567-e89b-42d3-a456-426614174000',
    payloadType: 0,
    payload,
  });
  t.equal(bytes.subarray(0, 120).toString('hex'), ACK_HEADER_HEX);
});

t.test('decodes the vectors into their fields', async (t) => {
  const ls = decodeFrame(Buffer.from(LS_FRAME, 'hex'));
  t.same(
    { ...ls, payload: ls.payload.toString('latin1') },
    {
      messageType: 'input_stream_data',
      schemaVersion: 1,
      createdDate: 1700000000000,
      sequenceNumber: 0,
      flags: 0,
      messageId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
      payloadType: 1,
      payload: 'ls\r',
    },
  );
  const flag = decodeFrame(Buffer.from(FLAG_FRAME, 'hex'));
  t.equal(flag.sequenceNumber, 7);
  t.equal(flag.messageId, 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d');
  t.equal(flag.payload.toString('hex'), '00000002');
});

t.test('MessageId halves are swapped on the wire', async (t) => {
  const wire = Buffer.alloc(16);
  writeMessageId('0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', wire, 0);
  t.equal(wire.toString('hex'), '8695a4b3c2d1e0f90f1e2d3c4b5a4978');
  t.equal(readMessageId(wire, 0), '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9');
  t.throws(() => writeMessageId('not-a-uuid', wire, 0));
});

t.test('known digests', async (t) => {
  t.equal(sha256(Buffer.alloc(0)).toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.equal(sha256(Buffer.from('00000001', 'hex')).toString('hex'), 'b40711a88c7039756fb8a73827eabe2c0fe5a0346ca7e0a104adc0fc764f528d');
  t.equal(sha256(Buffer.from('{"cols":120,"rows":40}')).toString('hex'), 'edf7359c89077b608a6b3e8b19e63bbfc7aa724989a05ea371a9966a6e9db7cc');
});

t.test('validation on receipt', async (t) => {
  const good = Buffer.from(LS_FRAME, 'hex');
  const reasons = (mutate: (b: Buffer) => Buffer) => {
    try {
      decodeFrame(mutate(Buffer.from(good)));
      return 'accepted';
    } catch (err) {
      t.ok(err instanceof FrameError);
      return (err as FrameError).reason;
    }
  };
  t.match(reasons((b) => b.subarray(0, 119)), /short frame/);
  t.match(reasons((b) => b.subarray(0, 122)), /truncated payload/);
  t.match(reasons((b) => (b.writeUInt32BE(0, 0), b)), /header length/);
  t.match(reasons((b) => (b.writeUInt32BE(5000, 0), b)), /header length/);
  t.match(reasons((b) => (b.fill(0x20, 4, 36), b)), /bad message type/);
  t.match(reasons((b) => (b.fill(0xc3, 4, 10), b)), /bad message type/);
  t.match(reasons((b) => (b.fill(0, 40, 48), b)), /zero created date/);
  t.match(reasons((b) => ((b[121] = 0x78), b)), /digest mismatch/);
  t.equal(reasons((b) => b), 'accepted');
  // NUL padding is accepted on receipt, as the official parsers strip it.
  t.equal(reasons((b) => (b.fill(0, 21, 36), b)), 'accepted');
  // Publication control frames skip validation.
  const pause = Buffer.alloc(120);
  pause.writeUInt32BE(116, 0);
  pause.write('pause_publication', 4, 'latin1');
  t.equal(decodeFrame(pause).messageType, 'pause_publication');
});
