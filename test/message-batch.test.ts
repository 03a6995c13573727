// The WebSocket framing of transport/message-batch.ts: the bytes `ws` itself writes for a
// client with a zero masking key, and the reuse of batch buffers only once written.
import t from 'tap';
import * as wsModule from 'ws';
import { MessageBatch, BATCH_FLUSH_BYTES } from '../src/transport/message-batch.ts';

interface Write {
  chunk: Buffer;
  copy: Buffer;
  done: () => void;
}

function recordingSink() {
  const writes: Write[] = [];
  const sink = {
    write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean {
      writes.push({ chunk, copy: Buffer.from(chunk), done: () => callback?.() });
      return true;
    },
  };
  return { writes, sink };
}

/** What ws writes for one binary message from a client whose masking key is zero. */
function wsFraming(message: Buffer): Buffer {
  // ws's own framing function (exported by ws, not declared by @types/ws).
  const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } };
  const parts = Sender.frame(message, {
    fin: true,
    opcode: 2,
    mask: true,
    generateMask: (mask: Buffer) => mask.fill(0),
    readOnly: false,
    rsv1: false,
  });
  return Buffer.concat(parts);
}

t.test('messages are framed exactly as ws frames them (zero mask), every length encoding', async (t) => {
  const { writes, sink } = recordingSink();
  const batch = new MessageBatch(() => sink);
  const sizes = [0, 1, 125, 126, 127, 1144, 65535, 65536, 100_000];
  const messages = sizes.map((size, i) => Buffer.alloc(size, i + 1));
  for (const message of messages) {
    batch.add(message);
    batch.flush();
  }
  t.equal(writes.length, sizes.length);
  sizes.forEach((size, i) => t.same(writes[i]!.chunk, wsFraming(messages[i]!), `${size} bytes`));
});

t.test('one turn, one write; the batch counts as pending until then', async (t) => {
  const { writes, sink } = recordingSink();
  const batch = new MessageBatch(() => sink);
  const marks: number[] = [];
  batch.add(Buffer.alloc(1144, 1));
  batch.add(Buffer.from('ack'), () => marks.push(1));
  batch.add(Buffer.alloc(1144, 2));
  t.equal(batch.pendingBytes, 8 + 1144 + 6 + 3 + 8 + 1144);
  t.equal(writes.length, 0, 'nothing is written during the turn');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(writes.length, 1);
  t.same(writes[0]!.chunk, Buffer.concat([wsFraming(Buffer.alloc(1144, 1)), wsFraming(Buffer.from('ack')), wsFraming(Buffer.alloc(1144, 2))]));
  t.same(marks, [], 'a written mark waits for the write');
  writes[0]!.done();
  t.same(marks, [1]);
  t.equal(batch.pendingBytes, 0);
});

t.test('a batch buffer is reused only once its write is done; past the flush point a batch goes at once', async (t) => {
  const { writes, sink } = recordingSink();
  const batch = new MessageBatch(() => sink);
  batch.add(Buffer.alloc(1000, 1));
  batch.flush();
  batch.add(Buffer.alloc(1000, 2));
  batch.flush();
  t.not(writes[1]!.chunk.buffer, writes[0]!.chunk.buffer, 'a buffer still being written is not reused');
  t.same(writes[0]!.chunk, writes[0]!.copy, 'and its bytes are intact');
  writes[0]!.done();
  t.equal(batch.spareBuffers, 1);
  batch.add(Buffer.alloc(1000, 3));
  batch.flush();
  t.equal(writes[2]!.chunk.buffer, writes[0]!.chunk.buffer, 'a written one is');
  t.same(writes[2]!.chunk, wsFraming(Buffer.alloc(1000, 3)));
  for (let i = 0; BATCH_FLUSH_BYTES / 1024 >= i; i++) batch.add(Buffer.alloc(1016, 4));
  t.equal(writes.length, 4, 'the flush point writes without waiting for the turn to end');
  t.ok(batch.pendingBytes < 2048);
});

t.test('without a socket the batch is dropped', async (t) => {
  const batch = new MessageBatch(() => undefined);
  batch.add(Buffer.alloc(10));
  batch.flush();
  t.equal(batch.pendingBytes, 0);
});
