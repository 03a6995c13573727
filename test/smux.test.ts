import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CMD_FIN,
  CMD_NOP,
  CMD_PSH,
  CMD_SYN,
  FrameParser,
  MAX_FRAME_SIZE,
  SmuxProtocolError,
  encodeFrame,
  type SmuxFrame,
} from '../src/smux/frame.ts';
import { SmuxKeepAliveTimeoutError, SmuxSession, type SmuxSessionOptions } from '../src/smux/session.ts';
import type { SmuxStream } from '../src/smux/stream.ts';
import { seededRandom } from '../src/util/prng.ts';

// PROTOCOL.md §7.3.4 example frames for stream 3.
const SYN3 = '0100000003000000';
const PSH3_HI = '01020200030000006869';
const FIN3 = '0101000003000000';
const NOP = '0103000000000000';

const hex = (s: string): Buffer => Buffer.from(s.replaceAll(' ', ''), 'hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Rejects if `promise` has not settled within `ms` (so a missing event fails fast). */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

interface RawFrame {
  ver: number;
  cmd: number;
  length: number;
  id: number;
  data: Buffer;
}

/** Splits a byte stream into frames by reading headers directly (independent of FrameParser). */
function splitRaw(bytes: Buffer): RawFrame[] {
  const frames: RawFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 8) throw new Error(`trailing ${bytes.length - at} bytes`);
    const length = bytes[at + 2]! | (bytes[at + 3]! << 8);
    const id = (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0;
    frames.push({ ver: bytes[at]!, cmd: bytes[at + 1]!, length, id, data: bytes.subarray(at + 8, at + 8 + length) });
    at += 8 + length;
  }
  if (at !== bytes.length) throw new Error('last frame truncated');
  return frames;
}

function parseAll(parser: FrameParser): SmuxFrame[] {
  const out: SmuxFrame[] = [];
  for (let f = parser.next(); f; f = parser.next()) out.push(f);
  return out;
}

const view = (f: SmuxFrame) => ({ cmd: f.cmd, streamId: f.streamId, data: f.data.toString('hex') });

/**
 * Reads a stream to its end; resolves with the bytes' hash and count. A plain for-await
 * would destroy the Duplex when its readable side ends, cutting off our own writes.
 */
async function drain(stream: SmuxStream): Promise<{ hash: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    length += chunk.length;
  }
  return { hash: hash.digest('hex'), length };
}

function collectText(stream: SmuxStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------
// A carrier between two sessions that re-cuts the byte stream at random boundaries,
// delivers asynchronously, and applies backpressure both ways as the port handlers do:
// write() returns false above `carrierLimit` (carrierDrained() once below), and input
// is held back while the receiver reports receiveFull (resumed on 'receiveDrain').

interface PipeOptions {
  maxSlice: number;
  carrierLimit: number;
}

class RandomPipe {
  sender!: SmuxSession;
  receiver!: SmuxSession;
  delivered = 0;
  peakReceiveBuffered = 0;
  writesWhileFull = 0;
  timesFull = 0;
  receiveWaits = 0;
  /** Every Buffer the sender wrote, when recording. */
  recorded: Buffer[] | undefined;
  private readonly rng: () => number;
  private readonly options: PipeOptions;
  private queue: Buffer[] = [];
  private queued = 0;
  private scheduled = false;
  private senderFull = false;
  private waitingReceive = false;

  constructor(rng: () => number, options: PipeOptions) {
    this.rng = rng;
    this.options = options;
  }

  readonly write = (bytes: Buffer): boolean => {
    if (this.senderFull) this.writesWhileFull++;
    this.recorded?.push(bytes);
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.schedule();
    if (this.queued >= this.options.carrierLimit) {
      if (!this.senderFull) this.timesFull++;
      this.senderFull = true;
      return false;
    }
    return true;
  };

  private schedule(): void {
    if (this.scheduled || this.waitingReceive) return;
    this.scheduled = true;
    setImmediate(this.pump);
  }

  private readonly pump = (): void => {
    this.scheduled = false;
    let budget = 256 * 1024;
    while (this.queued > 0 && budget > 0) {
      if (this.receiver.closed) {
        this.queue = [];
        this.queued = 0;
        break;
      }
      if (this.receiver.receiveFull) {
        this.receiveWaits++;
        this.waitingReceive = true;
        this.receiver.once('receiveDrain', () => {
          this.waitingReceive = false;
          this.schedule();
        });
        break;
      }
      const slice = this.take(1 + Math.floor(this.rng() * this.options.maxSlice));
      budget -= slice.length;
      this.delivered += slice.length;
      this.receiver.input(slice);
      this.peakReceiveBuffered = Math.max(this.peakReceiveBuffered, this.receiver.totalReceiveBuffered);
    }
    if (this.queued > 0 && !this.waitingReceive) this.schedule();
    if (this.senderFull && this.queued < this.options.carrierLimit) {
      this.senderFull = false;
      this.sender.carrierDrained();
    }
  };

  /** Up to n bytes from the front of the queue, crossing write boundaries. */
  private take(n: number): Buffer {
    n = Math.min(n, this.queued);
    this.queued -= n;
    const first = this.queue[0]!;
    if (first.length > n) {
      this.queue[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.queue[0]!;
      if (head.length <= need) {
        parts.push(head);
        this.queue.shift();
        need -= head.length;
      } else {
        parts.push(head.subarray(0, need));
        this.queue[0] = head.subarray(need);
        need = 0;
      }
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

interface Pair {
  client: SmuxSession;
  server: SmuxSession;
  up: RandomPipe;
  down: RandomPipe;
}

function sessionPair(
  seed: number,
  options: Partial<PipeOptions> & { session?: Partial<SmuxSessionOptions> } = {},
): Pair {
  const rng = seededRandom(seed);
  const pipeOptions = { maxSlice: options.maxSlice ?? 1500, carrierLimit: options.carrierLimit ?? Infinity };
  const up = new RandomPipe(rng, pipeOptions);
  const down = new RandomPipe(rng, pipeOptions);
  const client = new SmuxSession({ keepAlive: false, ...options.session, role: 'client', write: up.write });
  const server = new SmuxSession({ keepAlive: false, ...options.session, role: 'server', write: down.write });
  up.sender = client;
  up.receiver = server;
  down.sender = server;
  down.receiver = client;
  return { client, server, up, down };
}

// ---------------------------------------------------------------------------------------

t.test('encodes the PROTOCOL.md §7.3.4 vectors byte for byte', async (t) => {
  t.equal(encodeFrame(CMD_SYN, 3).toString('hex'), SYN3);
  t.equal(encodeFrame(CMD_PSH, 3, Buffer.from('hi')).toString('hex'), PSH3_HI);
  t.equal(encodeFrame(CMD_FIN, 3).toString('hex'), FIN3);
  t.equal(encodeFrame(CMD_NOP, 0).toString('hex'), NOP);
  // Little-endian length and id, beyond one byte each.
  t.equal(encodeFrame(CMD_PSH, 0x01020304, Buffer.alloc(0x0102)).subarray(0, 8).toString('hex'), '0102020104030201');
  t.throws(() => encodeFrame(CMD_PSH, 3, Buffer.alloc(65536)), RangeError);
});

t.test('parses the §7.3.4 vectors', async (t) => {
  const parser = new FrameParser();
  parser.push(hex(SYN3 + PSH3_HI + FIN3 + NOP));
  t.same(parseAll(parser).map(view), [
    { cmd: 0, streamId: 3, data: '' },
    { cmd: 2, streamId: 3, data: '6869' },
    { cmd: 1, streamId: 3, data: '' },
    { cmd: 3, streamId: 0, data: '' },
  ]);
  t.equal(parser.buffered, 0);
});

t.test('parser fed one byte at a time yields the same frames', async (t) => {
  const big = randomBytes(40000); // longer than MaxFrameSize is still a valid length
  const frames = [
    encodeFrame(CMD_SYN, 3),
    encodeFrame(CMD_PSH, 3, big),
    encodeFrame(CMD_PSH, 0xfffffffd, Buffer.from('x')),
    encodeFrame(CMD_NOP, 0),
    encodeFrame(CMD_FIN, 3),
  ];
  const bytes = Buffer.concat(frames);
  const parser = new FrameParser();
  const got: SmuxFrame[] = [];
  const completedAt: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    parser.push(bytes.subarray(i, i + 1));
    for (let f = parser.next(); f; f = parser.next()) {
      got.push(f);
      completedAt.push(i + 1);
    }
  }
  // Each frame comes out exactly when its last byte arrives.
  let end = 0;
  t.same(
    completedAt,
    frames.map((f) => (end += f.length)),
  );
  t.equal(got.length, 5);
  t.same(got.map((f) => [f.cmd, f.streamId, f.data.length]), [
    [0, 3, 0],
    [2, 3, 40000],
    [2, 0xfffffffd, 1],
    [3, 0, 0],
    [1, 3, 0],
  ]);
  t.equal(sha256(got[1]!.data), sha256(big));
  t.equal(parser.buffered, 0);
});

t.test('parser takes many frames from one Buffer, as views, and keeps partial tails', async (t) => {
  const payloads = Array.from({ length: 2000 }, (_, i) => randomBytes(i % 300));
  const bytes = Buffer.concat(payloads.map((p, i) => encodeFrame(CMD_PSH, 3 + 2 * (i % 7), p)));
  const parser = new FrameParser();
  // Everything but the last 5 bytes, then the rest.
  parser.push(bytes.subarray(0, bytes.length - 5));
  const first = parseAll(parser);
  t.equal(first.length, 1999);
  t.equal(parser.buffered, bytes.length - 5 - (bytes.length - encodeFrame(CMD_PSH, 0, payloads[1999]).length));
  parser.push(bytes.subarray(bytes.length - 5));
  const all = [...first, ...parseAll(parser)];
  t.equal(all.length, 2000);
  t.ok(
    all.every((f, i) => f.cmd === CMD_PSH && f.streamId === 3 + 2 * (i % 7) && f.data.equals(payloads[i]!)),
    'every frame matches',
  );
  // Frames inside one input Buffer are not copied.
  t.equal(all[10]!.data.buffer, bytes.buffer);
});

t.test('parser rejects version 2 and commands 4 and 5 with SmuxProtocolError', async (t) => {
  for (const header of ['0200000003000000', '0104000003000000', '0105000003000000']) {
    const parser = new FrameParser();
    parser.push(hex(SYN3));
    parser.push(hex(header.slice(0, 6)));
    t.equal(parser.next()?.cmd, CMD_SYN);
    t.equal(parser.next(), null, 'incomplete header: no verdict yet');
    parser.push(hex(header.slice(6)));
    t.throws(() => parser.next(), SmuxProtocolError, header);
    t.throws(() => parser.next(), SmuxProtocolError, 'stays failed');
  }
});

t.test('client ids are 3, 5, 7… and openStream sends SYN', async (t) => {
  const out: Buffer[] = [];
  const client = new SmuxSession({ role: 'client', keepAlive: false, write: (b) => (out.push(b), true) });
  t.same([client.openStream().id, client.openStream().id, client.openStream().id], [3, 5, 7]);
  t.equal(Buffer.concat(out).toString('hex'), SYN3 + '0100000005000000' + '0100000007000000');
  t.equal(client.streams, 3);
  const server = new SmuxSession({ role: 'server', keepAlive: false, write: () => true });
  t.same([server.openStream().id, server.openStream().id], [2, 4]);
  client.close();
  server.close();
  t.equal(client.streams, 0);
});

t.test('8 concurrent streams move distinct 4 MiB payloads both ways over a re-cut carrier', async (t) => {
  const SIZE = 4 * 1024 * 1024;
  const COUNT = 8;
  const receiveBufferLimit = 48 * 1024;
  const { client, server, up, down } = sessionPair(7, {
    maxSlice: 1500,
    carrierLimit: 128 * 1024,
    session: { receiveBufferLimit },
  });
  const upload = Array.from({ length: COUNT }, () => randomBytes(SIZE));
  const download = Array.from({ length: COUNT }, () => randomBytes(SIZE));
  const serverResults = new Map<number, Promise<{ hash: string; length: number }>>();
  server.on('stream', (stream: SmuxStream) => {
    const index = (stream.id - 3) / 2;
    serverResults.set(index, drain(stream));
    stream.end(download[index]);
  });
  const clientResults = Array.from({ length: COUNT }, (_, i) => {
    const stream = client.openStream();
    t.equal(stream.id, 3 + 2 * i);
    stream.end(upload[i]);
    return drain(stream);
  });
  const got = await Promise.all(clientResults);
  for (let i = 0; i < COUNT; i++) {
    t.equal(got[i]!.length, SIZE, `stream ${i} download length`);
    t.equal(got[i]!.hash, sha256(download[i]!), `stream ${i} download hash`);
    const server = await serverResults.get(i)!;
    t.equal(server.length, SIZE, `stream ${i} upload length`);
    t.equal(server.hash, sha256(upload[i]!), `stream ${i} upload hash`);
  }
  // Both sides closed each stream (FIN both ways, read to the end): nothing left open.
  await tick();
  t.equal(client.streams, 0);
  t.equal(server.streams, 0);
  // Backpressure was exercised and honoured in both directions.
  for (const [name, pipe] of [
    ['up', up],
    ['down', down],
  ] as const) {
    t.ok(pipe.timesFull > 0, `${name}: carrier reported full`);
    t.equal(pipe.writesWhileFull, 0, `${name}: no write while the carrier was full`);
    t.ok(pipe.receiveWaits > 0, `${name}: input held back while receive buffers were full`);
    t.ok(
      pipe.peakReceiveBuffered <= receiveBufferLimit + MAX_FRAME_SIZE + 1500,
      `${name}: receive buffers bounded (peak ${pipe.peakReceiveBuffered})`,
    );
  }
  t.notOk(client.closed);
  client.close();
  server.close();
});

t.test('a 100 KiB write becomes PSH frames of at most 32768 bytes', async (t) => {
  const out: Buffer[] = [];
  const client = new SmuxSession({ role: 'client', keepAlive: false, write: (b) => (out.push(b), true) });
  const stream = client.openStream();
  const payload = randomBytes(100 * 1024);
  await new Promise<void>((resolve, reject) => stream.write(payload, (err) => (err ? reject(err) : resolve())));
  const frames = splitRaw(Buffer.concat(out));
  t.same(
    frames.map((f) => [f.ver, f.cmd, f.id, f.length]),
    [
      [1, 0, 3, 0],
      [1, 2, 3, 32768],
      [1, 2, 3, 32768],
      [1, 2, 3, 32768],
      [1, 2, 3, 4096],
    ],
  );
  t.ok(Buffer.concat(frames.slice(1).map((f) => f.data)).equals(payload));

  // A smaller maxFrameSize is honoured too.
  const out2: Buffer[] = [];
  const small = new SmuxSession({
    role: 'client',
    keepAlive: false,
    maxFrameSize: 1000,
    write: (b) => (out2.push(b), true),
  });
  const s2 = small.openStream();
  await new Promise<void>((resolve) => s2.end(payload.subarray(0, 2500), resolve));
  t.same(
    splitRaw(Buffer.concat(out2)).map((f) => [f.cmd, f.length]),
    [
      [0, 0],
      [2, 1000],
      [2, 1000],
      [2, 500],
      [1, 0],
    ],
  );
  client.close();
  small.close();
});

t.test('FIN half-closes each direction independently', async (t) => {
  const { client, server, up } = sessionPair(3);
  const wire: Buffer[] = [];
  up.recorded = wire;
  const serverStream = new Promise<SmuxStream>((resolve) => server.once('stream', resolve));
  const c = client.openStream();
  c.write('question');
  c.end();
  const s = await serverStream;
  t.equal(await collectText(s), 'question', 'server read side ended by the client FIN');
  t.ok(s.finReceived);
  t.notOk(s.writableEnded, 'server can still write');
  t.ok(Buffer.concat(wire).toString('hex').endsWith(FIN3), 'client sent FIN 3');
  const clientText = collectText(c);
  s.write('answer part 1, ');
  await sleep(20);
  t.notOk(c.readableEnded, 'client read side still open');
  s.end('part 2');
  t.equal(await clientText, 'answer part 1, part 2');
  await tick();
  t.equal(client.streams, 0, 'client stream gone after both FINs');
  t.equal(server.streams, 0, 'server stream gone after both FINs');
  t.ok(c.destroyed && s.destroyed);
  client.close();
  server.close();
});

t.test('destroy() sends FIN once and forgets the stream', async (t) => {
  const out: Buffer[] = [];
  const client = new SmuxSession({ role: 'client', keepAlive: false, write: (b) => (out.push(b), true) });
  const stream = client.openStream();
  stream.destroy();
  await tick();
  t.equal(Buffer.concat(out).toString('hex'), SYN3 + FIN3);
  t.equal(client.streams, 0);
  // Data for the forgotten id is ignored.
  client.input(hex(PSH3_HI));
  t.notOk(client.closed);
  client.close();
});

t.test('PSH and FIN for unknown streams are ignored', async (t) => {
  const out: Buffer[] = [];
  const server = new SmuxSession({ role: 'server', keepAlive: false, write: (b) => (out.push(b), true) });
  let streams = 0;
  server.on('stream', () => streams++);
  server.input(Buffer.concat([encodeFrame(CMD_PSH, 7, Buffer.from('zz')), encodeFrame(CMD_FIN, 9)]));
  t.equal(streams, 0);
  t.equal(server.streams, 0);
  t.notOk(server.closed);
  t.equal(out.length, 0, 'nothing sent in reply');
  const opened = new Promise<SmuxStream>((resolve) => server.once('stream', resolve));
  server.input(hex(SYN3 + PSH3_HI));
  const s = await opened;
  server.input(hex(FIN3));
  t.equal(await collectText(s), 'hi');
  server.close();
});

t.test('a duplicate SYN is ignored', async (t) => {
  const server = new SmuxSession({ role: 'server', keepAlive: false, write: () => true });
  const opened: SmuxStream[] = [];
  server.on('stream', (s: SmuxStream) => opened.push(s));
  server.input(
    Buffer.concat([
      hex(SYN3),
      encodeFrame(CMD_PSH, 3, Buffer.from('a')),
      hex(SYN3),
      encodeFrame(CMD_PSH, 3, Buffer.from('b')),
      hex(FIN3),
    ]),
  );
  t.equal(opened.length, 1);
  t.equal(server.streams, 1);
  t.equal(await collectText(opened[0]!), 'ab');
  server.close();
});

t.test('version byte 2 or command 4 kills the session', async (t) => {
  for (const bad of ['0202000003000000', '0104000003000000']) {
    const server = new SmuxSession({ role: 'server', keepAlive: false, write: () => true });
    const streams: SmuxStream[] = [];
    server.on('stream', (s: SmuxStream) => streams.push(s));
    const closed = once(server, 'close');
    server.input(hex(SYN3 + PSH3_HI));
    t.equal(streams.length, 1);
    // The bad header arrives split over two inputs, after a good frame in the same input.
    t.doesNotThrow(() => server.input(hex('0100000005000000' + bad.slice(0, 4))));
    t.equal(streams.length, 2);
    t.notOk(server.closed);
    t.doesNotThrow(() => server.input(hex(bad.slice(4))));
    const [err] = await closed;
    t.type(err, SmuxProtocolError, bad);
    t.ok(server.closed);
    t.equal(server.streams, 0);
    t.ok(streams.every((s) => s.destroyed), 'every stream destroyed');
    server.input(hex('0100000009000000'));
    t.equal(streams.length, 2, 'input after the error is ignored');
  }
});

t.test('carrier backpressure holds writers until carrierDrained(), losing nothing', async (t) => {
  const out: Buffer[] = [];
  let full = false;
  let writesWhileFull = 0;
  const client = new SmuxSession({
    role: 'client',
    keepAlive: false,
    write: (b) => {
      if (full) writesWhileFull++;
      out.push(b);
      full = true; // every write fills the carrier
      return false;
    },
  });
  const stream = client.openStream();
  t.equal(out.length, 1, 'SYN handed over');
  const payload = randomBytes(200 * 1024); // 6 × 32768 + 8192 → 7 PSH frames
  let acknowledged = false;
  stream.write(payload, () => (acknowledged = true));
  await tick();
  t.equal(out.length, 1, 'no PSH while the carrier is full');
  for (let drained = 1; drained <= 7; drained++) {
    full = false;
    client.carrierDrained();
    await tick();
    t.equal(out.length, 1 + drained, `one frame per drain (${drained})`);
    t.notOk(acknowledged, `write not acknowledged after drain ${drained}`);
  }
  full = false;
  client.carrierDrained();
  await tick();
  t.ok(acknowledged, 'acknowledged once the carrier drained after the last frame');
  t.equal(writesWhileFull, 0, 'the session never wrote into a full carrier');
  const frames = splitRaw(Buffer.concat(out));
  t.same(frames.map((f) => f.cmd), [0, 2, 2, 2, 2, 2, 2, 2]);
  t.ok(Buffer.concat(frames.slice(1).map((f) => f.data)).equals(payload), 'every byte, in order');

  // Frames queued while the carrier is full keep their order: a SYN opened while 'tail'
  // is unacknowledged goes out before the FIN that end() produces after 'tail'.
  stream.write('tail');
  t.equal(out.length, 9, 'tail sent; the carrier is full again');
  stream.end();
  const second = client.openStream();
  await tick();
  t.equal(out.length, 9, 'SYN 5 held back');
  for (let rounds = 0; rounds < 10; rounds++) {
    full = false;
    client.carrierDrained();
    await tick();
  }
  t.equal(writesWhileFull, 0);
  t.same(
    out.slice(8).map((b) => b.toString('hex')),
    ['0102040003000000' + Buffer.from('tail').toString('hex'), '0100000005000000', FIN3],
  );
  t.equal(second.id, 5);
  client.close();
});

// The session's timers are unref'd (they never keep a process alive on their own), so
// these tests hold the event loop open themselves.
function holdEventLoop(t: { teardown: (fn: () => void) => unknown }): void {
  const timer = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(timer));
}

t.test('keep-alive sends NOPs on the interval and closes after silence', async (t) => {
  holdEventLoop(t);
  const out: Array<{ at: number; hex: string }> = [];
  const start = Date.now();
  const session = new SmuxSession({
    role: 'client',
    keepAlive: { intervalMs: 20, timeoutMs: 100 },
    write: (b) => (out.push({ at: Date.now() - start, hex: b.toString('hex') }), true),
  });
  const [err] = await withDeadline(once(session, 'close'), 2000, "'close' event");
  const elapsed = Date.now() - start;
  t.type(err, SmuxKeepAliveTimeoutError);
  t.ok(elapsed >= 90 && elapsed < 1000, `closed after ${elapsed} ms`);
  t.ok(out.length >= 3, `${out.length} NOPs sent`);
  t.ok(out.every((o) => o.hex === NOP), 'each is the NOP vector');
  const count = out.length;
  await sleep(60);
  t.equal(out.length, count, 'no NOP after close');
});

t.test('keep-alive: a peer that sends NOPs keeps the session alive; off means silent', async (t) => {
  holdEventLoop(t);
  const { client, server } = sessionPair(5, { session: { keepAlive: { intervalMs: 20, timeoutMs: 100 } } });
  await sleep(350);
  t.notOk(client.closed, 'client alive after 3.5 timeouts');
  t.notOk(server.closed, 'server alive after 3.5 timeouts');
  client.close();
  server.close();

  const out: Buffer[] = [];
  const quiet = new SmuxSession({ role: 'client', keepAlive: false, write: (b) => (out.push(b), true) });
  await sleep(120);
  t.equal(out.length, 0);
  t.notOk(quiet.closed);
  quiet.close();
});

t.test('pipeline() with real sockets on 127.0.0.1, half-close included', async (t) => {
  // Destination: an echo server that answers only after the request has ended.
  const echo = net.createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const echoPort = (echo.address() as net.AddressInfo).port;

  const { client, server } = sessionPair(11, { carrierLimit: 64 * 1024 });
  server.on('stream', (stream: SmuxStream) => {
    const dest = net.connect({ port: echoPort, host: '127.0.0.1', allowHalfOpen: true });
    pipeline(stream, dest, stream).catch(() => {});
  });
  const local = net.createServer({ allowHalfOpen: true }, (socket) => {
    const stream = client.openStream();
    pipeline(socket, stream, socket).catch(() => {});
  });
  local.listen(0, '127.0.0.1');
  await once(local, 'listening');
  const localPort = (local.address() as net.AddressInfo).port;

  const roundTrip = async (payload: Buffer): Promise<string> => {
    const socket = net.connect({ port: localPort, host: '127.0.0.1', allowHalfOpen: true });
    await once(socket, 'connect');
    socket.end(payload);
    const hash = createHash('sha256');
    for await (const chunk of socket as AsyncIterable<Buffer>) hash.update(chunk);
    return hash.digest('hex');
  };
  const payloads = [randomBytes(2 * 1024 * 1024), randomBytes(1), randomBytes(300 * 1024)];
  const hashes = await Promise.all(payloads.map(roundTrip));
  t.same(hashes, payloads.map(sha256));
  await sleep(20);
  t.equal(client.streams, 0);
  t.equal(server.streams, 0);
  client.close();
  server.close();
  local.close();
  echo.close();
});
