import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { CMD_FIN, CMD_PSH, CMD_SYN, FrameParser, type SmuxFrame } from '../src/smux/frame.ts';
import { SmuxSession } from '../src/smux/session.ts';

/** A carrier that records every frame written and reports itself full while `full` is set. */
function recordingCarrier() {
  const parser = new FrameParser();
  const frames: Array<{ cmd: number; streamId: number; length: number }> = [];
  const carrier = {
    full: false,
    frames,
    write(bytes: Buffer): boolean {
      parser.push(Buffer.from(bytes));
      for (let frame: SmuxFrame | null = parser.next(); frame; frame = parser.next()) {
        frames.push({ cmd: frame.cmd, streamId: frame.streamId, length: frame.data.length });
      }
      return !carrier.full;
    },
  };
  return carrier;
}

t.test('a 1-byte frame of a second stream goes out before a bulk stream’s backlog', async (t) => {
  const carrier = recordingCarrier();
  const session = new SmuxSession({ role: 'client', write: (b) => carrier.write(b), keepAlive: false });
  t.teardown(() => session.close());
  const bulk = session.openStream();
  const small = session.openStream();
  t.same(carrier.frames.map((f) => [f.cmd, f.streamId]), [[CMD_SYN, 3], [CMD_SYN, 5]]);

  carrier.full = true; // every write fills the carrier: one frame per carrierDrained()
  bulk.write(Buffer.alloc(256 * 1024, 1)); // 8 frames of 32 KiB
  small.write(Buffer.from('k'));
  const sent = () => carrier.frames.slice(2).map((f) => `${f.streamId}:${f.length}`);
  t.same(sent(), ['3:32768'], 'the bulk stream’s first frame filled the carrier');
  session.carrierDrained();
  t.same(sent(), ['3:32768', '5:1'], 'the small stream’s frame is next, ahead of 7 bulk frames');
  for (let i = 0; i < 7; i++) session.carrierDrained();
  t.same(sent(), ['3:32768', '5:1', ...Array(7).fill('3:32768')], 'then the bulk backlog, in order');
});

t.test('busy streams take turns frame by frame, each keeping SYN, data, FIN in order', async (t) => {
  const carrier = recordingCarrier();
  carrier.full = true;
  const session = new SmuxSession({ role: 'client', write: (b) => carrier.write(b), keepAlive: false, maxFrameSize: 1000 });
  t.teardown(() => session.close());
  const a = session.openStream(); // SYN 3 fills the carrier
  const b = session.openStream();
  a.write(Buffer.alloc(3000));
  b.write(Buffer.alloc(2500));
  a.end();
  b.end();
  for (let i = 0; i < 20; i++) session.carrierDrained();
  t.same(
    carrier.frames.map((f) => `${f.cmd === CMD_SYN ? 'SYN' : f.cmd === CMD_FIN ? 'FIN' : 'PSH'} ${f.streamId}${f.cmd === CMD_PSH ? ` ${f.length}` : ''}`),
    ['SYN 3', 'SYN 5', 'PSH 3 1000', 'PSH 5 1000', 'PSH 3 1000', 'PSH 5 1000', 'PSH 3 1000', 'PSH 5 500', 'FIN 3', 'FIN 5'],
  );
});

t.test('interleaved streams arrive intact at a peer session', async (t) => {
  const server = new SmuxSession({ role: 'server', write: () => true, keepAlive: false });
  let full = true;
  const client = new SmuxSession({
    role: 'client',
    keepAlive: false,
    write: (bytes) => {
      server.input(Buffer.from(bytes));
      return !full;
    },
  });
  t.teardown(() => {
    client.close();
    server.close();
  });
  const payloads = [randomBytes(300_000), randomBytes(70_000), randomBytes(5)];
  const received = new Map<number, Buffer[]>();
  const ended = new Promise<void>((resolve) => {
    let open = payloads.length;
    server.on('stream', (stream) => {
      const chunks: Buffer[] = [];
      received.set(stream.id, chunks);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (--open === 0) resolve();
      });
    });
  });
  const streams = payloads.map(() => client.openStream());
  streams.forEach((s, i) => s.end(payloads[i]));
  full = false;
  client.carrierDrained();
  await ended;
  const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  streams.forEach((s, i) => t.equal(digest(Buffer.concat(received.get(s.id) ?? [])), digest(payloads[i]!), `stream ${s.id}`));
});
