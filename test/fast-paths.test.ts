// The allocation-saving fast paths of the codec and the channel, each checked against the
// plain path it stands in for (bytes, values, order), so a shortcut can never drift.
import t from 'tap';
import { decodeFrame, encodeFrame } from '../src/protocol/frame.ts';
import { readMessageId, writeMessageId, writeRandomMessageId } from '../src/protocol/uuid.ts';
import { decodeAcknowledgedSequence, getFold } from '../src/protocol/payloads.ts';
import { OutgoingWindow } from '../src/channel/outgoing-window.ts';
import { FrameBufferPool } from '../src/channel/frame-buffer-pool.ts';
import { encodeFrame as encodeSmuxFrame, HEADER_SIZE } from '../src/smux/frame.ts';
import { SmuxSession } from '../src/smux/session.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('random message ids: version 4, RFC variant, halves in wire order, all distinct', async (t) => {
  const seen = new Set<string>();
  const wire = Buffer.alloc(16);
  for (let i = 0; i < 2000; i++) {
    writeRandomMessageId(wire, 0);
    const text = readMessageId(wire, 0);
    t.equal(UUID_V4.test(text), true, text);
    // Wire order is b[8..15] b[0..7]: the version nibble is RFC byte 6, i.e. wire byte 14.
    t.equal(wire[14]! >> 4, 4);
    t.equal(wire[0]! >> 6, 0b10);
    const again = Buffer.alloc(16);
    writeMessageId(text, again, 0);
    t.same(again, wire, 'text form writes back to the same bytes');
    seen.add(text);
  }
  t.equal(seen.size, 2000);
});

t.test('writeMessageId accepts either case and rejects anything that is not a UUID', async (t) => {
  const lower = Buffer.alloc(16);
  const upper = Buffer.alloc(16);
  writeMessageId('0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', lower, 0);
  writeMessageId('0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9', upper, 0);
  t.same(upper, lower);
  t.equal(lower.toString('hex'), '8695a4b3c2d1e0f90f1e2d3c4b5a4978');
  for (const bad of [
    '',
    '0f1e2d3c4b5a49788695a4b3c2d1e0f9',
    '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f',
    '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg',
    '0f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f9',
    '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0\u0130',
    '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0\u0f30',
  ]) {
    t.throws(() => writeMessageId(bad, Buffer.alloc(16), 0), TypeError, JSON.stringify(bad));
  }
});

t.test('encodeFrame without a messageId writes a random one; 64-bit fields round-trip', async (t) => {
  const fields = { messageType: 'input_stream_data', schemaVersion: 1, payloadType: 1, payload: Buffer.from('x') };
  const cases = [
    { createdDate: 1_700_000_000_000, sequenceNumber: 0, flags: 0 },
    { createdDate: 2 ** 32, sequenceNumber: 2 ** 32 + 5, flags: 3 },
    { createdDate: Number.MAX_SAFE_INTEGER, sequenceNumber: -1, flags: 2 ** 40 },
    { createdDate: 1, sequenceNumber: -(2 ** 33) - 7, flags: 1 },
  ];
  for (const c of cases) {
    const bytes = encodeFrame({ ...fields, ...c });
    const frame = decodeFrame(bytes);
    t.equal(frame.createdDate, c.createdDate);
    t.equal(frame.sequenceNumber, c.sequenceNumber);
    t.equal(frame.flags, c.flags);
    t.equal(UUID_V4.test(frame.messageId), true);
    // The BigInt reading of the same bytes agrees (the codec itself no longer uses it).
    t.equal(Number(bytes.readBigInt64BE(48)), c.sequenceNumber);
    t.equal(Number(bytes.readBigUInt64BE(56)), c.flags);
  }
  t.equal(encodeFrame({ ...fields, ...cases[2]! }).subarray(48, 56).toString('hex'), 'ffffffffffffffff');
});

t.test('encodeFrame header start (length, padded type, schema version) is right whatever came before', async (t) => {
  // The plain way of writing the first 40 bytes (PROTOCOL.md §3.2), which the per-type copies stand in for.
  const plain = (type: string, schemaVersion: number) => {
    const out = Buffer.alloc(40, 0x20);
    out.writeUInt32BE(116, 0);
    out.write(type, 4, 'latin1');
    out.writeUInt32BE(schemaVersion, 36);
    return out.toString('hex');
  };
  const types = ['input_stream_data', 'acknowledge', 'input_stream_data', 'channel_closed', 'x', 'acknowledge'];
  const dirty = () => Buffer.alloc(200, 0xa5); // a reused buffer's old bytes must not show through
  for (const schemaVersion of [1, 2, 1, 0]) {
    for (const messageType of types) {
      const payload = Buffer.from(messageType);
      const bytes = encodeFrame(
        { messageType, schemaVersion, createdDate: 1, sequenceNumber: 2, flags: 0, payloadType: 1, payload },
        (size) => dirty().subarray(0, size),
      );
      t.equal(bytes.subarray(0, 40).toString('hex'), plain(messageType, schemaVersion), `${messageType} v${schemaVersion}`);
      t.equal(decodeFrame(bytes).messageType, messageType);
    }
  }
});

t.test('the acknowledged-sequence fast path agrees with the JSON parser', async (t) => {
  const viaJson = (text: string) => {
    try {
      const seq = getFold(JSON.parse(text), 'AcknowledgedMessageSequenceNumber');
      return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : undefined;
    } catch {
      return undefined;
    }
  };
  const payloads = [
    '{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":42,"IsSequentialMessage":true}',
    '{"AcknowledgedMessageSequenceNumber":0}',
    '{"AcknowledgedMessageSequenceNumber":9007199254740991}',
    '{"AcknowledgedMessageSequenceNumber": 42}',
    '{"acknowledgedmessagesequencenumber":42}',
    '{"AcknowledgedMessageSequenceNumber":42.5}',
    '{"AcknowledgedMessageSequenceNumber":4e2}',
    '{"AcknowledgedMessageSequenceNumber":-3}',
    '{"AcknowledgedMessageSequenceNumber":"42"}',
    '{"AcknowledgedMessageSequenceNumber":042}',
    '{"AcknowledgedMessageSequenceNumber":1,"AcknowledgedMessageSequenceNumber":2}',
    '{"AcknowledgedMessageSequenceNumber":1,"AcknowledgedMessageSequenceNumber":2,"IsSequentialMessage":true}',
    '{"AcknowledgedMessageSequenceNumber":1,"IsSequentialMessage":true,"AcknowledgedMessageSequenceNumber":3}',
    '{"AcknowledgedMessageSequenceNumber":1,"AcknowledgedMessageSequenceNumber":22}',
    '{"AcknowledgedMessageSequenceNumber":1,"IsSequentialMessage":true}',
    '{"AcknowledgedMessageSequenceNumber":12345678901234567890}',
    '[{"AcknowledgedMessageSequenceNumber":1}]',
    'not json "AcknowledgedMessageSequenceNumber":1}',
    '{"AcknowledgedMessageSequenceNumber":7',
  ];
  for (const text of payloads) t.equal(decodeAcknowledgedSequence(Buffer.from(text)), viaJson(text), text);
});

t.test('outgoing window: ring order, out-of-order acks, growth past the limit, entry reuse', async (t) => {
  const window = new OutgoingWindow(4);
  const seqs = (w: OutgoingWindow) => [...w.values()].map((e) => e.sequenceNumber);
  for (let seq = 100; seq < 120; seq++) window.add(seq, Buffer.from([seq]));
  t.equal(window.size, 20);
  t.equal(window.full, true);
  t.same(seqs(window), Array.from({ length: 20 }, (_, i) => 100 + i), 'grew and kept order');
  t.equal(window.acknowledge(99), undefined);
  t.equal(window.acknowledge(120), undefined);
  const acked = window.acknowledge(105)!;
  t.equal(acked.sequenceNumber, 105);
  t.same(acked.bytes, Buffer.from([105]));
  t.equal(window.acknowledge(105), undefined, 'twice is nothing');
  window.release(acked);
  t.equal(window.oldest()?.sequenceNumber, 100);
  for (let seq = 100; seq < 105; seq++) window.acknowledge(seq);
  t.equal(window.oldest()?.sequenceNumber, 106, 'the base moves past the hole');
  const reused = window.add(120, Buffer.from([120]));
  t.equal(reused, acked, 'a released entry object is reused');
  t.equal(reused.sends, 0);
  t.equal(reused.lastSent, 0, 'its send time reset');
  t.same(seqs(window), [...Array.from({ length: 14 }, (_, i) => 106 + i), 120]);
  t.throws(() => window.add(122, Buffer.alloc(0)), RangeError, 'sequence numbers must be consecutive');
  for (const seq of seqs(window)) window.acknowledge(seq);
  t.equal(window.size, 0);
  window.add(500, Buffer.alloc(0));
  t.same(seqs(window), [500], 'an empty window starts anywhere');
});

t.test('outgoing window entries hold numbers in their time fields, never undefined', async (t) => {
  // A field that once held undefined is stored as a pointer: each timestamp written to it
  // became a heap object kept by the long-lived entry until promoted to the old generation.
  const window = new OutgoingWindow(4);
  const fields = ['lastSent', 'sentTime', 'deliveredTimeAtSend', 'firstSentTimeAtSend', 'deliveredAtSend'] as const;
  const fresh = window.add(0, Buffer.alloc(0));
  for (const field of fields) t.equal(typeof fresh[field], 'number', `a fresh entry's ${field}`);
  window.release(window.acknowledge(0)!);
  const reused = window.add(1, Buffer.alloc(0));
  t.equal(reused, fresh, 'reused');
  for (const field of fields) t.equal(typeof reused[field], 'number', `a reused entry's ${field}`);
});

t.test('frame buffer pool: reuses its own slots only', async (t) => {
  const pool = new FrameBufferPool(1144, 2);
  const full = pool.take(1144);
  const part = pool.take(200);
  t.equal(full.length, 1144);
  t.equal(part.length, 200);
  pool.give(full);
  pool.give(part);
  pool.give(Buffer.alloc(1144)); // a pool of its own backing store size, but full: ignored
  t.equal(pool.available, 2);
  const again = pool.take(1144);
  t.equal(again.buffer, part.buffer, 'last in, first out');
  pool.give(Buffer.allocUnsafe(50));
  pool.give(Buffer.allocUnsafeSlow(2000).subarray(0, 1144));
  t.equal(pool.available, 1, 'foreign buffers are not taken');
  t.equal(pool.take(5000).length, 5000, 'oversized requests are plain allocations');
});

t.test('smux with a copying carrier sends the same bytes as with fresh buffers', async (t) => {
  const run = (carrierCopies: boolean) => {
    const out: Buffer[] = [];
    const session = new SmuxSession({
      role: 'client',
      keepAlive: false,
      carrierCopies,
      // A copying carrier must copy before returning: the buffer is reused for the next frame.
      write: (bytes) => (out.push(Buffer.from(bytes)), true),
    });
    const stream = session.openStream();
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    stream.write(data);
    session.close();
    return Buffer.concat(out);
  };
  const copied = run(true);
  const fresh = run(false);
  t.same(copied, fresh);
  // SYN for stream 3, then PSH frames of at most 32768 bytes carrying the data in order.
  t.same(copied.subarray(0, HEADER_SIZE), encodeSmuxFrame(0, 3));
  let offset = HEADER_SIZE;
  const received: Buffer[] = [];
  while (offset < copied.length) {
    t.equal(copied[1 + offset], 2, 'PSH');
    const length = copied.readUInt16LE(offset + 2);
    t.ok(length <= 32768);
    received.push(copied.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + length));
    offset += HEADER_SIZE + length;
  }
  const data = Buffer.concat(received);
  t.equal(data.length, 100_000);
  t.equal(data.every((byte, i) => byte === ((i * 7) & 0xff)), true);
});
