import t from 'tap';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { DataChannel } from '../src/channel/data-channel.ts';
import { RtoEstimator } from '../src/channel/rto.ts';
import { memoryLink, type LinkFaults, type MemoryTransport } from '../src/transport/memory-transport.ts';
import { PayloadType } from '../src/protocol/constants.ts';
import { decodeFrame, encodeFrame } from '../src/protocol/frame.ts';
import { agentPeer } from './helpers/agent-peer.ts';

/** Our client channel against the simulator's agent channel (an independent peer). */
function pair(aToB: LinkFaults = {}, bToA: LinkFaults = {}, windowFrames = 64) {
  const [ta, tb] = memoryLink(aToB, bToA);
  const client = new DataChannel({ windowFrames });
  const agent = agentPeer(tb);
  client.attach(ta);
  return { client, agent, ta, tb };
}

/** Pushes `data` through `from` in 1 KiB payloads, honouring backpressure. */
function pump(from: DataChannel, data: Buffer): void {
  let offset = 0;
  const write = () => {
    while (offset < data.length) {
      const ok = from.send(PayloadType.Output, data.subarray(offset, offset + 1024));
      offset += 1024;
      if (!ok) return void from.once('drain', write);
    }
  };
  write();
}

function collect(to: DataChannel, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise((resolve) => {
    to.setHandler((type, payload) => {
      if (type !== PayloadType.Output) return true;
      chunks.push(Buffer.from(payload));
      total += payload.length;
      if (total >= length) resolve(Buffer.concat(chunks));
      return true;
    });
  });
}

/** Resolves when `condition` holds, checked after every frame arriving on `transport`. */
function afterFrames(transport: MemoryTransport, condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (condition()) return resolve();
    const check = () => {
      if (!condition()) return;
      transport.off('frame', check);
      resolve();
    };
    transport.on('frame', check);
  });
}

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('RTO estimator follows §6.4', async (t) => {
  const rto = new RtoEstimator();
  t.equal(rto.rto, 200);
  rto.sample(20);
  // RTTVAR = 0.25*|100-20| = 20; SRTT = 0.875*100 + 0.125*20 = 90; RTO = 90 + 80 = 170
  t.equal(rto.rttvar, 20);
  t.equal(rto.srtt, 90);
  t.equal(rto.rto, 170);
  for (let i = 0; i < 200; i++) rto.sample(1);
  t.ok(rto.rto >= rto.srtt + 10, 'granularity floor');
  t.ok(rto.rto < 15);
  rto.sample(100_000);
  t.equal(rto.rto, 1000, 'capped at 1 s');
});

t.test('lossless transfer both ways keeps order and bytes', async (t) => {
  const { client, agent } = pair();
  const up = randomBytes(300 * 1024);
  const down = randomBytes(200 * 1024 + 17);
  const gotUp = agent.outputReceived(up.length);
  const gotDown = collect(client, down.length);
  pump(client, up);
  agent.sendOutput(down);
  t.equal(digest(await gotUp), digest(up));
  t.equal(digest(await gotDown), digest(down));
  t.equal(client.stats.framesResent, 0);
  client.close();
  agent.close();
});

t.test('drop, duplicate and reorder in both directions lose nothing', async (t) => {
  const faults = { dropRate: 0.05, duplicateRate: 0.05, reorderRate: 0.1 };
  const { client, agent } = pair({ ...faults, seed: 7 }, { ...faults, seed: 11 });
  const up = randomBytes(256 * 1024);
  const down = randomBytes(256 * 1024);
  const gotUp = agent.outputReceived(up.length);
  const gotDown = collect(client, down.length);
  pump(client, up);
  agent.sendOutput(down);
  t.equal(digest(await gotUp), digest(up));
  t.equal(digest(await gotDown), digest(down));
  t.ok(client.stats.framesResent > 0, 'client retransmitted');
  // Every distinct frame is acked once; more acks than frames are re-acks of duplicates.
  t.ok(agent.channel.stats.acksSent > agent.channel.expectedInSeq, 'agent saw and re-acked duplicates');
  t.ok(client.stats.outOfOrderReceived > 0, 'client buffered out-of-order frames');
  client.close();
  agent.close();
});

t.test('the window applies backpressure and never drops', async (t) => {
  const [ta] = memoryLink();
  const channel = new DataChannel({ windowFrames: 8 });
  channel.attach(ta); // nobody acks
  const results = [];
  for (let i = 0; i < 10; i++) results.push(channel.send(PayloadType.Output, Buffer.from([i])));
  t.same(results, [true, true, true, true, true, true, true, false, false, false]);
  t.equal(channel.unacknowledged, 10, 'frames beyond the window are kept, not dropped');
  channel.close();
});

t.test('duplicates are re-acked and a refused frame is not acked', async (t) => {
  const [ta, tb] = memoryLink();
  const channel = new DataChannel();
  channel.attach(ta);
  const acks: number[] = [];
  tb.on('frame', (data: Buffer) => {
    const frame = decodeFrame(data);
    if (frame.messageType === 'acknowledge') {
      acks.push(JSON.parse(frame.payload.toString()).AcknowledgedMessageSequenceNumber);
    }
  });
  const out = (seq: number, text: string) =>
    encodeFrame({
      messageType: 'output_stream_data',
      schemaVersion: 1,
      createdDate: Date.now(),
      sequenceNumber: seq,
      flags: seq === 0 ? 1 : 0,
      messageId: crypto.randomUUID(),
      payloadType: 1,
      payload: Buffer.from(text),
    });
  let ready = false;
  const seen: string[] = [];
  channel.setHandler((_type, payload) => {
    if (!ready) return false;
    seen.push(payload.toString());
    return true;
  });
  tb.send(out(0, 'a'));
  tb.send(out(2, 'c'));
  // Frames are handled in order, so an ack of 0 would arrive before the ack of 2.
  await afterFrames(tb, () => acks.includes(2));
  t.same(acks, [2], 'in-order frame refused (no ack); out-of-order one acked and held');
  ready = true;
  tb.send(out(0, 'a'));
  tb.send(out(1, 'b'));
  tb.send(out(1, 'b'));
  await afterFrames(tb, () => acks.length >= 4);
  t.same(seen, ['a', 'b', 'c']);
  t.same(acks, [2, 0, 1, 1], 'duplicate re-acked');
  channel.close();
});

t.test('pause_publication holds transmission until resumed', async (t) => {
  const [ta, tb] = memoryLink();
  const channel = new DataChannel();
  channel.attach(ta);
  const received: number[] = [];
  tb.on('frame', (data: Buffer) => received.push(decodeFrame(data).sequenceNumber));
  const control = (type: string) =>
    encodeFrame({ messageType: type, schemaVersion: 1, createdDate: Date.now(), sequenceNumber: 0, flags: 0, messageId: crypto.randomUUID(), payloadType: 0, payload: Buffer.alloc(0) });
  const paused = once(channel, 'paused');
  tb.send(control('pause_publication'));
  await paused;
  channel.send(PayloadType.Output, Buffer.from('x'));
  channel.send(PayloadType.Output, Buffer.from('y'));
  // The link delivers on the next turn: by then anything sent for x and y has arrived. (Any
  // incoming frame would resume publication, so no answer from the channel can mark it.)
  await new Promise((resolve) => setImmediate(resolve));
  t.same(received, [], 'nothing sent or retransmitted while paused');
  tb.send(control('start_publication'));
  await afterFrames(tb, () => received.length >= 2);
  t.same(received.slice(0, 2), [0, 1], 'numbered frames go out on resume');
  channel.close();
});

t.test('frames are kept across a transport change and resent on attach', async (t) => {
  const channel = new DataChannel();
  channel.send(PayloadType.Output, Buffer.from('before-connect'));
  const [a1, b1] = memoryLink({ dropRate: 1 });
  const agentSide = agentPeer(b1);
  const payloads = () => agentSide.received.map((r) => r.payload.toString());
  channel.attach(a1);
  channel.send(PayloadType.Output, Buffer.from('lost-on-first-link'));
  t.equal(a1.framesSent, 2, 'both frames went out on the first link');
  await new Promise((resolve) => setImmediate(resolve)); // when they would have arrived
  t.same(payloads(), []);
  const [a2, b2] = memoryLink();
  agentSide.attach(b2);
  const allAcked = new Promise<void>((resolve) => channel.on('acknowledged', () => channel.unacknowledged === 0 && resolve()));
  channel.attach(a2);
  await allAcked;
  t.same(payloads(), ['before-connect', 'lost-on-first-link']);
  t.equal(channel.unacknowledged, 0);
  channel.close();
  agentSide.close();
});

t.test('channel_closed and invalid frames', async (t) => {
  const [ta, tb] = memoryLink();
  const channel = new DataChannel();
  channel.attach(ta);
  const closed = new Promise<string>((r) => channel.once('channel_closed', r));
  tb.send(Buffer.from('garbage'));
  tb.send(
    encodeFrame({ messageType: 'channel_closed', schemaVersion: 1, createdDate: Date.now(), sequenceNumber: 0, flags: 3, messageId: crypto.randomUUID(), payloadType: 1, payload: Buffer.from('{"Output":"bye","SessionId":"s"}') }),
  );
  t.equal(await closed, 'bye');
  t.equal(channel.stats.invalidFrames, 1);
  channel.close();
});
