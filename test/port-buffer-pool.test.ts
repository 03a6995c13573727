// The pool that received smux data is copied into (mux port forwarding) and the smux
// parser's allocation hook that feeds it: slabs come back once released, foreign or
// doubly released Buffers are ignored, and only frames that straddle carrier chunks are
// copied into pooled slabs (a frame inside one chunk stays a view).
import t from 'tap';
import { BufferPool } from '../src/session/port/buffer-pool.ts';
import { CMD_PSH, encodeFrame, FrameParser } from '../src/smux/frame.ts';
import { SmuxSession } from '../src/smux/session.ts';
import type { SmuxStream } from '../src/smux/stream.ts';

t.test('BufferPool lends slabs, takes them back, and ignores what is not on loan', async (t) => {
  const pool = new BufferPool(1024, 2);
  const a = pool.allocate(100);
  t.equal(a.length, 100, 'the requested size');
  t.equal(a.buffer.byteLength, 1024, 'cut from a slab');
  pool.release(a);
  t.equal(pool.idle, 1, 'released slab is idle');
  const b = pool.allocate(1024);
  t.equal(b.buffer, a.buffer, 'and lent again');
  t.equal(pool.idle, 0);
  pool.release(b);
  pool.release(b);
  t.equal(pool.idle, 1, 'a second release of the same Buffer is ignored');
  pool.release(Buffer.alloc(10));
  pool.release(Buffer.allocUnsafeSlow(1024));
  t.equal(pool.idle, 1, 'Buffers the pool did not lend are ignored');
  const big = pool.allocate(4096);
  t.equal(big.length, 4096, 'larger requests are served');
  pool.release(big);
  t.equal(pool.idle, 1, 'but not pooled');
  const lent = [pool.allocate(1), pool.allocate(1), pool.allocate(1), pool.allocate(1)];
  for (const x of lent) pool.release(x);
  t.equal(pool.idle, 2, 'at most maxFree slabs are kept');
});

t.test('FrameParser copies only straddling frames, into the allocator', async (t) => {
  const sizes: number[] = [];
  const parser = new FrameParser({
    allocate: (size) => {
      sizes.push(size);
      return Buffer.alloc(size);
    },
  });
  const inside = encodeFrame(CMD_PSH, 3, Buffer.from('inside one chunk'));
  parser.push(inside);
  const first = parser.next();
  t.equal(first?.data.toString(), 'inside one chunk');
  t.equal(first?.data.buffer, inside.buffer, 'a frame within one input Buffer is a view');
  t.same(sizes, [], 'nothing allocated for it');
  const data = Buffer.from('x'.repeat(3000));
  const straddling = encodeFrame(CMD_PSH, 3, data);
  for (let offset = 0; offset < straddling.length; offset += 1024) parser.push(straddling.subarray(offset, offset + 1024));
  const second = parser.next();
  t.ok(second?.data.equals(data), 'a frame cut across input Buffers arrives whole');
  t.same(sizes, [3000], 'copied once, into a Buffer from the allocator');
});

t.test('SmuxSession hands the allocate option to its parser', async (t) => {
  const pool = new BufferPool(32768, 8);
  const lentSizes: number[] = [];
  const server = new SmuxSession({
    role: 'server',
    keepAlive: false,
    write: () => true,
    allocate: (size) => {
      lentSizes.push(size);
      return pool.allocate(size);
    },
  });
  const received: Buffer[] = [];
  server.on('stream', (stream: SmuxStream) => stream.on('data', (chunk: Buffer) => received.push(chunk)));
  const carrier = Buffer.concat([encodeFrame(0, 3), encodeFrame(CMD_PSH, 3, Buffer.alloc(20000, 7))]);
  for (let offset = 0; offset < carrier.length; offset += 1024) server.input(carrier.subarray(offset, offset + 1024));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(lentSizes, [20000], 'the straddling PSH frame went into a pooled Buffer');
  t.equal(received.length, 1);
  t.equal(received[0]?.buffer.byteLength, 32768, 'the stream delivers the pooled Buffer itself');
  pool.release(received[0]!);
  t.equal(pool.idle, 1, 'which the consumer can return once written');
  server.close();
});
