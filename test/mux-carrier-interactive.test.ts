import t from 'tap';
import { once } from 'node:events';
import { DataChannel } from '../src/channel/data-channel.ts';
import { PayloadType } from '../src/protocol/constants.ts';
import { decodeFrame, type Frame } from '../src/protocol/frame.ts';
import { encodeAcknowledgeFrame } from '../src/protocol/control-frames.ts';
import { CMD_PSH, FrameParser } from '../src/smux/frame.ts';
import { MuxCarrier } from '../src/session/port/mux-carrier.ts';
import type { HandlerContext } from '../src/session/session-handler.ts';
import { memoryLink } from '../src/transport/memory-transport.ts';

/*
 * A keystroke in one smux stream while another stream's bulk upload keeps the channel
 * window full: the keystroke's frame must be the next frame sent once a single frame of
 * room opens, not only when the window has reopened by an eighth.
 */

/** A mux carrier on a real channel over a memory link; the far end records every frame. */
function carrierOverChannel(windowFrames: number) {
  const [near, far] = memoryLink();
  const channel = new DataChannel({ windowFrames });
  channel.attach(near);
  const received: Frame[] = [];
  const arrivalWaiters: Array<() => void> = [];
  far.on('frame', (bytes: Buffer) => {
    received.push(decodeFrame(bytes));
    for (const wake of arrivalWaiters.splice(0)) wake();
  });
  const failures: string[] = [];
  // The carrier uses only the channel and fail() of its handler context.
  const context = { channel, fail: (reason: string) => failures.push(reason) } as unknown as HandlerContext;
  const carrier = new MuxCarrier(context, { keepAlive: false });
  /** Resolves once `count` frames have arrived at the far end. */
  const arrived = async (count: number): Promise<void> => {
    while (received.length < count) await new Promise<void>((resolve) => arrivalWaiters.push(resolve));
  };
  /** Acknowledges one received frame and waits until the channel has processed the ack. */
  const acknowledge = async (frame: Frame): Promise<void> => {
    const processed = once(channel, 'acknowledged');
    far.send(encodeAcknowledgeFrame(frame));
    await processed;
  };
  return { near, channel, carrier, received, failures, arrived, acknowledge };
}

/** The smux frames inside an Output payload that holds whole frames. */
function smuxFrames(payload: Buffer) {
  const parser = new FrameParser();
  parser.push(Buffer.from(payload));
  const frames = [];
  for (let frame = parser.next(); frame; frame = parser.next()) frames.push(frame);
  return frames;
}

t.test('with the window full, a keystroke on an idle stream is sent at the first free slot, ahead of the bulk', async (t) => {
  const { near, channel, carrier, received, failures, arrived, acknowledge } = carrierOverChannel(64);
  t.teardown(() => {
    carrier.stop();
    channel.close();
  });
  const bulk = carrier.openStream();
  const idle = carrier.openStream();
  bulk.write(Buffer.alloc(256 * 1024, 1)); // 8 smux frames of 32 KiB, 32 channel frames each
  t.notOk(channel.writable, 'the bulk stream filled the window');
  const sentBefore = near.framesSent;
  await arrived(sentBefore);

  idle.write(Buffer.from('k'));
  t.equal(near.framesSent, sentBefore, 'nothing is sent into a full window');
  // The last 32 KiB smux frame went out whole, a few channel frames past the window.
  const overshoot = channel.unacknowledged - 64;
  let acks = 0;
  while (near.framesSent === sentBefore) await acknowledge(received[acks++]!);
  t.equal(acks, overshoot + 1, 'the first free slot of the window went to the keystroke');

  await arrived(sentBefore + 1);
  const next = received[sentBefore]!;
  t.equal(next.payloadType, PayloadType.Output);
  const frames = smuxFrames(next.payload);
  t.same(
    frames.map((f) => ({ cmd: f.cmd, streamId: f.streamId, data: f.data.toString() })),
    [{ cmd: CMD_PSH, streamId: idle.id, data: 'k' }],
    'the next frame sent is the keystroke, not more of the bulk stream',
  );
  t.same(failures, []);
});

t.test('without an idle stream waiting, the bulk stream resumes only once an eighth of the window is free', async (t) => {
  const { near, channel, carrier, received, arrived, acknowledge } = carrierOverChannel(64);
  t.teardown(() => {
    carrier.stop();
    channel.close();
  });
  const bulk = carrier.openStream();
  bulk.write(Buffer.alloc(256 * 1024, 1));
  const sentBefore = near.framesSent;
  await arrived(sentBefore);
  const overshoot = channel.unacknowledged - 64;
  let acks = 0;
  while (near.framesSent === sentBefore) await acknowledge(received[acks++]!);
  t.equal(acks, overshoot + 64 / 8, 'a bulk stream alone is woken in batches, not per acknowledgement');
});

t.test('a bulk write fills whole Output payloads (each smux frame is 32 payloads, header included)', async (t) => {
  const { near, channel, carrier, received, arrived } = carrierOverChannel(1024);
  t.teardown(() => {
    carrier.stop();
    channel.close();
  });
  const stream = carrier.openStream();
  await arrived(1); // the SYN
  const data = Buffer.alloc(64 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  stream.write(data);
  // 64 KiB and three 8-byte headers: 65 payloads, all full but the last (32 KiB frames made 66).
  await arrived(1 + 65);
  const payloads = received.slice(1).map((f) => f.payload);
  t.equal(near.framesSent, 1 + 65, 'no more frames than the bytes need');
  t.same(payloads.slice(0, -1).map((p) => p.length), Array(64).fill(1024), 'every payload but the last is full');
  const parser = new FrameParser();
  parser.push(Buffer.concat(payloads));
  const parts: Buffer[] = [];
  for (let frame = parser.next(); frame; frame = parser.next()) parts.push(Buffer.from(frame.data));
  t.ok(Buffer.concat(parts).equals(data), 'the stream bytes arrive intact');
});
