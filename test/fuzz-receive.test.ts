// The client's receive path against hostile input: thousands of random and mutated frames
// go to DataChannel.receive and, over a memory transport, to a running PluginSession.
// Nothing may throw, hang or grow without bound; every frame the codec rejects is counted
// in stats.invalidFrames; and afterwards the session still works. Also the give-up path:
// an agent that never acknowledges makes the session terminate itself.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DataChannel } from '../src/channel/data-channel.ts';
import type { FrameTransport } from '../src/channel/transport.ts';
import { MessageType, PayloadType } from '../src/protocol/constants.ts';
import { decodeFrame, encodeFrame } from '../src/protocol/frame.ts';
import { decodeAcknowledgedSequence, decodeHandshakeResponse } from '../src/protocol/payloads.ts';
import { newUuid } from '../src/protocol/uuid.ts';
import { PluginSession } from '../src/cli/plugin-session.ts';
import { memoryLink, type MemoryTransport } from '../src/transport/memory-transport.ts';
import { frameFuzzer, type FuzzInput } from './helpers/frame-fuzz.ts';
import { waitFor } from './helpers/wait.ts';
import { controlFrame } from './helpers/frame-builders.ts';

const MiB = 1024 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
v8.setFlagsFromString('--no-expose-gc');
function memoryNow(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** What the codec says about an input: the oracle for invalidFrames. */
function isValidFrame(bytes: Buffer): boolean {
  try {
    decodeFrame(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A transport that records what the channel sends and never delivers anything itself. */
class RecordingTransport extends EventEmitter implements FrameTransport {
  readonly bufferedAmount = 0;
  readonly sent: Buffer[] = [];
  send(frame: Buffer): boolean {
    this.sent.push(frame);
    return true;
  }
  sendAcknowledgement(frame: Buffer): boolean {
    return this.send(frame);
  }
  pause(): void {}
  resume(): void {}
  close(): void {
    this.emit('close');
  }
}

function outputFrame(sequenceNumber: number, payload: Buffer | string, payloadType: number = PayloadType.Output): Buffer {
  return encodeFrame({
    messageType: MessageType.OutputStreamData,
    schemaVersion: 1,
    createdDate: Date.now(),
    sequenceNumber,
    flags: 0,
    messageId: newUuid(),
    payloadType,
    payload: Buffer.from(payload),
  });
}


/** Acked sequence numbers among the frames a channel sent. */
function ackedSequences(sent: Buffer[]): number[] {
  const out: number[] = [];
  for (const bytes of sent) {
    const frame = decodeFrame(bytes);
    if (frame.messageType !== MessageType.Acknowledge) continue;
    const seq = decodeAcknowledgedSequence(frame.payload);
    if (seq !== undefined) out.push(seq);
  }
  return out;
}

t.test('DataChannel.receive: 20 000 hostile inputs', async (t) => {
  const transport = new RecordingTransport();
  const channel = new DataChannel();
  let invalidEvents = 0;
  channel.on('invalid_frame', () => invalidEvents++);
  let closedEvents = 0;
  channel.on('channel_closed', () => closedEvents++);
  channel.attach(transport);
  // Counted, not kept, so the memory figure is the channel's own.
  const delivered = { count: 0, last: '' };
  channel.setHandler((_type, payload) => {
    delivered.count++;
    if (payload.length < 32) delivered.last = payload.toString('latin1');
    return true;
  });
  // Some history first, so "duplicate" numbers exist.
  for (let seq = 0; seq < 10; seq++) channel.receive(outputFrame(seq, `warm-${seq}`));
  t.equal(delivered.count, 10, 'ten in-order frames delivered before the fuzz');

  const before = memoryNow();
  const fuzz = frameFuzzer({
    seed: 0xf022,
    expected: () => delivered.count, // the handler takes everything, so this is the next seq
    allowInOrder: true,
    allowChannelClosed: true,
    allowPause: true,
  });
  const kinds = new Map<string, number>();
  let expectedInvalid = 0;
  const throws: Array<{ input: FuzzInput; error: unknown }> = [];
  const started = performance.now();
  for (let i = 0; i < 20_000; i++) {
    const input = fuzz();
    kinds.set(input.kind, (kinds.get(input.kind) ?? 0) + 1);
    if (!isValidFrame(input.bytes)) expectedInvalid++;
    try {
      channel.receive(input.bytes);
    } catch (error) {
      throws.push({ input, error });
    }
    transport.sent.length = 0; // the acks; checked below for the final frame
  }
  const elapsed = performance.now() - started;
  const grown = memoryNow() - before;
  const reorderSize = (channel as unknown as { reorder: { size: number; capacity: number } }).reorder;

  t.same(throws.map((x) => `${x.input.kind}: ${String(x.error)}`), [], 'no input made receive() throw');
  t.ok(kinds.size >= 16, `every kind of input was produced: ${JSON.stringify(Object.fromEntries(kinds))}`);
  t.equal(channel.stats.invalidFrames, expectedInvalid, `${expectedInvalid} invalid frames, each counted once`);
  t.equal(invalidEvents, expectedInvalid, "and each reported as 'invalid_frame'");
  t.ok(expectedInvalid > 8000, 'most inputs were invalid');
  t.ok(elapsed < 15_000, `no hang: ${elapsed.toFixed(0)} ms for 20 000 inputs`);
  t.ok(reorderSize.size <= reorderSize.capacity, `reorder buffer ${reorderSize.size} ≤ capacity ${reorderSize.capacity}`);
  t.ok(grown < 32 * MiB, `memory after GC grew by ${(grown / MiB).toFixed(1)} MiB (frames kept out of order included)`);
  t.ok(closedEvents > 0, `channel_closed with junk payloads is still reported (${closedEvents})`);

  // The channel still works: the next in-order frame is delivered and acked.
  const next = delivered.count;
  const seen: string[] = [];
  channel.setHandler((_type, payload) => (seen.push(payload.toString('latin1')), true));
  channel.receive(outputFrame(next, 'still alive'));
  // Frames kept out of order right behind it follow it, as they should.
  t.equal(seen[0], 'still alive', `a valid in-order frame (seq ${next}) is delivered afterwards (then ${seen.length - 1} buffered ones)`);
  t.same(ackedSequences(transport.sent).slice(0, 1), [next], 'and acknowledged');
  channel.close();
});

t.test('the reorder buffer is capped; frames past it are dropped unacknowledged', async (t) => {
  const transport = new RecordingTransport();
  const channel = new DataChannel({ reorderCapacity: 100 });
  channel.attach(transport);
  const delivered: string[] = [];
  channel.setHandler((_type, payload) => (delivered.push(payload.toString()), true));

  // 5 000 frames far ahead (never deliverable), then frames 1..150 out of order.
  for (let i = 0; i < 5000; i++) channel.receive(outputFrame(1_000_000 + i, 'far'));
  const buffer = (channel as unknown as { reorder: { size: number } }).reorder;
  t.equal(buffer.size, 100, 'exactly the capacity is kept');
  t.equal(ackedSequences(transport.sent).length, 100, 'only the kept frames are acknowledged');
  transport.sent.length = 0;
  for (let seq = 1; seq <= 150; seq++) channel.receive(outputFrame(seq, `seq-${seq}`));
  t.same(ackedSequences(transport.sent), [], 'with the buffer full, early frames are not acked either (the sender resends them)');
  channel.receive(outputFrame(0, 'seq-0'));
  t.same(delivered, ['seq-0'], 'the in-order frame is delivered regardless');
  for (let seq = 1; seq <= 150; seq++) channel.receive(outputFrame(seq, `seq-${seq}`)); // the resends
  t.equal(delivered.length, 151, 'resent frames are delivered in order');
  t.equal(delivered.at(-1), 'seq-150');
  channel.close();
});

/** A PluginSession on a memory link whose far end is a DataChannel in the agent role. */
function sessionHarness(options: { api?: ConstructorParameters<typeof PluginSession>[0]['api']; tty?: boolean; stallTimeoutMs?: number } = {}) {
  const [clientEnd, agentEnd] = memoryLink();
  const agent = new DataChannel({ outgoingType: MessageType.OutputStreamData, incomingType: MessageType.InputStreamData });
  agent.attach(agentEnd);
  const received: Array<{ type: number; payload: Buffer }> = [];
  agent.setHandler((type, payload) => (received.push({ type, payload: Buffer.from(payload) }), true));
  const rawModes: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), options.tty ? { isTTY: true, setRawMode: (raw: boolean) => rawModes.push(raw) } : {});
  const stdout = new PassThrough();
  let screen = '';
  stdout.on('data', (d: Buffer) => (screen += d.toString('latin1')));
  const session = new PluginSession({
    sessionId: 'sess-fuzz',
    tokenValue: 'token',
    streamUrl: 'ws://unused',
    target: 'i-1',
    io: { stdin: stdin as never, stdout: stdout as never, stderr: new PassThrough() },
    connect: async () => clientEnd,
    api: options.api,
    stallTimeoutMs: options.stallTimeoutMs,
  });
  return { agent, agentEnd: agentEnd as MemoryTransport, received, stdin, rawModes, screen: () => screen, session };
}

t.test('a running PluginSession: 5 000 hostile frames, then the session goes on', async (t) => {
  const h = sessionHarness();
  const outcome = h.session.run();
  h.agent.send(PayloadType.Output, Buffer.from('prompt$ ')); // a plain shell starts on first output
  await waitFor(() => h.screen().includes('prompt$ '), { what: 'the prompt', timeoutMs: 5000 });

  const before = memoryNow();
  const fuzz = frameFuzzer({
    seed: 0x5e55,
    expected: () => 1, // irrelevant: no in-order frames, the agent's numbering must stay intact
    allowInOrder: false,
    allowChannelClosed: false,
    allowPause: true,
  });
  let expectedInvalid = 0;
  for (let i = 0; i < 5000; i++) {
    const input = fuzz();
    if (!isValidFrame(input.bytes)) expectedInvalid++;
    h.agentEnd.send(input.bytes); // raw, around the agent's channel
  }
  // Frames arrive in order on the link: once this output shows, the fuzz has been received.
  h.agent.send(PayloadType.Output, Buffer.from('still-alive'));
  await waitFor(() => h.screen().includes('still-alive'), { what: 'output after the fuzz', timeoutMs: 10_000 });
  const grown = memoryNow() - before;
  t.equal(h.session.channel.stats.invalidFrames, expectedInvalid, `${expectedInvalid} invalid frames counted`);
  t.ok(grown < 32 * MiB, `memory after GC grew by ${(grown / MiB).toFixed(1)} MiB`);

  h.stdin.write('typed after the fuzz\n');
  await waitFor(() => h.received.some((r) => r.type === PayloadType.Output && r.payload.toString().includes('typed after')), {
    what: 'input to reach the agent',
    timeoutMs: 10_000,
  });
  t.pass('input still reaches the agent');
  h.agentEnd.send(controlFrame(MessageType.ChannelClosed, Buffer.from(JSON.stringify({ Output: '' }))));
  t.same(await outcome, { status: 'closed', output: '' }, 'channel_closed still ends it normally');
  h.agent.close();
});

t.test('unreadable handshake requests are ignored; the valid one that follows is answered', async (t) => {
  const h = sessionHarness();
  const outcome = h.session.run();
  const junk = ['', '{', 'null', '[]', '"x"', '{"RequestedClientActions":{}}', '{"RequestedClientActions":"x"}', '\u0000\u00ff', '['.repeat(5000)];
  for (const payload of junk) h.agent.send(PayloadType.HandshakeRequest, Buffer.from(payload, 'latin1'));
  const valid = {
    AgentVersion: '3.3.987.0',
    RequestedClientActions: [{ ActionType: 'SessionType', ActionParameters: { SessionType: 'Standard_Stream', Properties: null } }],
  };
  h.agent.send(PayloadType.HandshakeRequest, Buffer.from(JSON.stringify(valid)));
  const responses = () => h.received.filter((r) => r.type === PayloadType.HandshakeResponse).map((r) => decodeHandshakeResponse(r.payload));
  await waitFor(() => responses().length >= 1, { what: 'a handshake response', timeoutMs: 5000 });
  h.agent.send(PayloadType.HandshakeComplete, Buffer.from('{"HandshakeTimeToComplete": "soon", "CustomerMessage": {"not": "text"}}'));
  h.agent.send(PayloadType.Output, Buffer.from('shell-output'));
  await waitFor(() => h.screen().includes('shell-output'), { what: 'the shell to start', timeoutMs: 5000, context: h.screen });
  t.equal(responses().length, 1, 'only the valid request was answered');
  t.same(responses()[0]?.ProcessedClientActions.map((a) => a.ActionStatus), [1], 'SessionType: Success');
  t.equal(h.session.channel.stats.invalidFrames, 0, 'well-formed frames with junk payloads are not "invalid frames"');
  h.agentEnd.send(controlFrame(MessageType.ChannelClosed, Buffer.from('{"Output": ""}')));
  t.same(await outcome, { status: 'closed', output: '' }, 'the session ran and ended normally');
  h.agent.close();
});

t.test('actions named like Object.prototype members are Unsupported, not run', async (t) => {
  const h = sessionHarness();
  const outcome = h.session.run();
  const request = {
    AgentVersion: 7, // not a string either
    RequestedClientActions: [
      { ActionType: 'constructor', ActionParameters: { a: 1 } },
      { ActionType: '__proto__' },
      { ActionType: 'toString' },
      { ActionType: 'hasOwnProperty', ActionParameters: 'x' },
      { ActionType: 'SessionType', ActionParameters: { SessionType: 'Standard_Stream' } },
    ],
  };
  h.agent.send(PayloadType.HandshakeRequest, Buffer.from(JSON.stringify(request)));
  const result = await outcome;
  const response = h.received.filter((r) => r.type === PayloadType.HandshakeResponse).map((r) => decodeHandshakeResponse(r.payload))[0];
  t.same(
    response?.ProcessedClientActions.map((a) => [a.ActionType, a.ActionStatus]),
    [['constructor', 3], ['__proto__', 3], ['toString', 3], ['hasOwnProperty', 3], ['SessionType', 1]],
    'each answered Unsupported (3), none "succeeded" by calling an inherited method',
  );
  // A response with errors makes the agent cancel the session; the plugin says why.
  t.equal(result.status, 'failed', 'the session ends');
  t.match(result.status === 'failed' ? result.error.message : '', /Unsupported action constructor/, 'naming the unsupported actions');
  h.agent.close();
});

t.test('a buffered frame whose drain was refused, then received in order, does not linger', async (t) => {
  // E+1 is kept out of order (and acked); E arrives and is delivered, but the handler
  // refuses E+1 when it is drained (not ready yet); then E+1 comes again (the agent
  // resent it because the ack was lost) and is accepted directly. The buffered copy must
  // go too, or it occupies a reorder slot for the rest of the session.
  const transport = new RecordingTransport();
  const channel = new DataChannel();
  channel.attach(transport);
  const refuseOnce = new Set(['one']);
  const delivered: string[] = [];
  channel.setHandler((_type, payload) => {
    const text = payload.toString();
    if (refuseOnce.delete(text)) return false;
    delivered.push(text);
    return true;
  });
  const buffer = (channel as unknown as { reorder: { size: number } }).reorder;
  channel.receive(outputFrame(1, 'one'));
  channel.receive(outputFrame(0, 'zero'));
  t.same(delivered, ['zero'], 'the drain of seq 1 was refused');
  t.equal(buffer.size, 1, 'seq 1 waits in the reorder buffer');
  channel.receive(outputFrame(1, 'one'));
  t.same(delivered, ['zero', 'one'], 'the resent seq 1 is delivered');
  t.equal(buffer.size, 0, 'and its buffered copy is gone');
  channel.deliverPending();
  channel.receive(outputFrame(2, 'two'));
  t.same(delivered, ['zero', 'one', 'two'], 'nothing delivered twice');
  channel.close();
});

t.test('an agent that never acknowledges: stalled → TerminateSession, terminal restored, clear failure', async (t) => {
  const terminated: string[] = [];
  // The default give-up time is 5 min (like the official 3000 resends); shortened here.
  const STALL_MS = 400;
  const h = sessionHarness({
    tty: true,
    api: { terminateSession: async (id) => void terminated.push(id) },
    stallTimeoutMs: STALL_MS,
  });
  // The agent's channel is bypassed: frames are sent raw and nothing is ever acked.
  h.agent.close();
  const resent: number[] = [];
  h.agentEnd.on('frame', (bytes: Buffer) => {
    const frame = decodeFrame(bytes);
    if (frame.messageType === MessageType.InputStreamData) resent.push(frame.sequenceNumber);
  });
  const outcome = h.session.run();
  const started = performance.now();
  h.agentEnd.send(outputFrame(0, 'prompt$ '));
  h.stdin.write('ls\r');
  const result = await outcome;
  const took = performance.now() - started;
  t.equal(result.status, 'failed', 'the session fails');
  t.match(result.status === 'failed' ? result.error.message : '', /stopped acknowledging/, 'with a clear reason');
  t.same(terminated, ['sess-fuzz'], 'TerminateSession API called once');
  t.same(h.rawModes, [true, false], 'raw mode entered and restored');
  t.ok(resent.length > 2, `the unacked frames were retransmitted meanwhile (${resent.length} sends)`);
  t.ok(took < STALL_MS + 1500, `gave up ${took.toFixed(0)} ms after start (stall limit ${STALL_MS} ms, max RTO 1 s)`);
});
