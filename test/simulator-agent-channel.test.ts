import { isUtf8 } from 'node:buffer';
import t from 'tap';
import { AgentChannel, type InputVerdict } from '../src/simulator/agent/agent-channel.ts';
import { performHandshake, HANDSHAKE_TIMEOUT_MESSAGE } from '../src/simulator/agent/handshake.ts';
import { RtoEstimator } from '../src/simulator/agent/rto-estimator.ts';
import { splitAgentUtf8 } from '../src/simulator/agent/utf8-tail.ts';
import { seededRandom } from '../src/util/prng.ts';
import { OutputPump } from '../src/simulator/agent/output-pump.ts';
import { decodeFrame, type Frame } from '../src/protocol/frame.ts';
import { newUuid } from '../src/protocol/uuid.ts';
import { controlFrame, inputFrame as input } from './helpers/frame-builders.ts';
import { waitFor } from './helpers/wait.ts';

/** A channel wired to an in-memory "service" and a hand-driven clock. */
function harness(options: { outgoingCapacity?: number; incomingCapacity?: number; tickMs?: number } = {}) {
  const sent: Buffer[] = [];
  const clock = { now: 1000 };
  const channel = new AgentChannel({
    sessionId: 'sim-0123456789abcdef0',
    send: (frame) => sent.push(frame),
    now: () => clock.now,
    resendTickMs: options.tickMs ?? 5,
    ...(options.outgoingCapacity ? { outgoingCapacity: options.outgoingCapacity } : {}),
    ...(options.incomingCapacity ? { incomingCapacity: options.incomingCapacity } : {}),
  });
  const handled: Frame[] = [];
  let verdict: InputVerdict = 'accepted';
  channel.setDataHandler((frame) => {
    if (verdict === 'accepted') handled.push(frame);
    return verdict;
  });
  const decoded = () => sent.map((bytes) => decodeFrame(bytes));
  const acks = () =>
    decoded()
      .filter((f) => f.messageType === 'acknowledge')
      .map((f) => JSON.parse(f.payload.toString()) as Record<string, unknown>);
  return {
    channel,
    sent,
    clock,
    handled,
    decoded,
    acks,
    setVerdict: (v: InputVerdict) => {
      verdict = v;
    },
  };
}

/** An acknowledge frame whose JSON is spelled out here, independently of the codec's encoder. */
function ackOf(seq: number): Buffer {
  return controlFrame(
    'acknowledge',
    Buffer.from(
      JSON.stringify({
        AcknowledgedMessageType: 'output_stream_data',
        AcknowledgedMessageId: newUuid(),
        AcknowledgedMessageSequenceNumber: seq,
        IsSequentialMessage: true,
      }),
    ),
  );
}

const control = (type: 'pause_publication' | 'start_publication'): Buffer => controlFrame(type);

t.test('outgoing frames: own sequence from 0, Flags 1 only on seq 0', async (t) => {
  const h = harness();
  h.channel.sendStream(1, Buffer.from('a'));
  h.channel.sendStream(1, Buffer.from('b'));
  h.channel.sendStream(3, Buffer.from('c'));
  const frames = h.decoded();
  t.same(
    frames.map((f) => [f.messageType, f.sequenceNumber, f.flags, f.schemaVersion, f.payloadType, f.payload.toString()]),
    [
      ['output_stream_data', 0, 1, 1, 1, 'a'],
      ['output_stream_data', 1, 0, 1, 1, 'b'],
      ['output_stream_data', 2, 0, 1, 3, 'c'],
    ],
  );
  t.equal(h.channel.unackedCount, 3);
  h.channel.receive(ackOf(1));
  t.equal(h.channel.unackedCount, 2, 'ack removes exactly the named sequence number');
  h.channel.receive(ackOf(42));
  t.equal(h.channel.unackedCount, 2, 'unknown ack ignored');
});

t.test('acks every accepted input with the §4.1 payload, and re-acks duplicates', async (t) => {
  const h = harness();
  const first = input(0, 'ls\r');
  h.channel.receive(first);
  const firstId = decodeFrame(first).messageId;
  const [ackFrame] = h.decoded();
  t.ok(ackFrame);
  t.equal(ackFrame?.messageType, 'acknowledge');
  t.equal(ackFrame?.sequenceNumber, 0);
  t.equal(ackFrame?.flags, 3);
  t.equal(ackFrame?.payloadType, 0);
  t.equal(
    ackFrame?.payload.toString(),
    `{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"${firstId}",` +
      `"AcknowledgedMessageSequenceNumber":0,"IsSequentialMessage":true}`,
  );
  t.equal(h.handled.length, 1);
  h.channel.receive(first);
  t.equal(h.acks().length, 2, 'duplicate is acked again');
  t.equal(h.handled.length, 1, 'duplicate is not processed again');
  t.equal(h.channel.expectedInSeq, 1);
});

t.test('out-of-order input is acked at once, buffered, and delivered after the gap', async (t) => {
  const h = harness();
  h.channel.receive(input(2, 'two'));
  h.channel.receive(input(1, 'one'));
  t.same(h.acks().map((a) => a.AcknowledgedMessageSequenceNumber), [2, 1]);
  t.equal(h.handled.length, 0);
  t.equal(h.channel.bufferedInCount, 2);
  h.channel.receive(input(0, 'zero'));
  t.same(h.handled.map((f) => f.payload.toString()), ['zero', 'one', 'two']);
  t.same(h.acks().map((a) => a.AcknowledgedMessageSequenceNumber), [2, 1, 0], 'buffered frames are not acked twice');
  t.equal(h.channel.expectedInSeq, 3);
});

t.test('a handler that is not ready gets no ack and no advance', async (t) => {
  const h = harness();
  h.setVerdict('not-ready');
  h.channel.receive(input(0, 'x'));
  t.equal(h.acks().length, 0);
  t.equal(h.channel.expectedInSeq, 0);
  h.setVerdict('accepted');
  h.channel.receive(input(0, 'x'));
  t.equal(h.acks().length, 1);
  t.equal(h.channel.expectedInSeq, 1);
});

t.test('incoming buffer capacity: past it, out-of-order frames are dropped without ack', async (t) => {
  const h = harness({ incomingCapacity: 1 });
  h.channel.receive(input(1, 'a'));
  h.channel.receive(input(2, 'b'));
  t.same(h.acks().map((a) => a.AcknowledgedMessageSequenceNumber), [1]);
  t.equal(h.channel.stats.incomingOverflow, 1);
});

t.test('outgoing buffer capacity: a frame past it is sent but not stored', async (t) => {
  const h = harness({ outgoingCapacity: 2 });
  for (const text of ['a', 'b', 'c']) h.channel.sendStream(1, Buffer.from(text));
  t.equal(h.sent.length, 3);
  t.equal(h.channel.unackedCount, 2);
  t.equal(h.channel.stats.outgoingUnstored, 1);
});

t.test('the agent does not check the payload digest but drops malformed headers', async (t) => {
  const h = harness();
  const frame = input(0, 'echo hi\r');
  frame[frame.length - 1] = 0x0a; // payload no longer matches its digest
  h.channel.receive(frame);
  t.equal(h.handled[0]?.payload.toString(), 'echo hi\n', 'accepted despite the digest');
  h.channel.receive(input(1, 'x').subarray(0, 100));
  const noDate = input(1, 'x');
  noDate.fill(0, 40, 48);
  h.channel.receive(noDate);
  t.equal(h.channel.stats.malformedDropped, 2);
  t.equal(h.acks().length, 1);
});

t.test('before the handshake completes, non-handshake input is acked and discarded', async (t) => {
  const h = harness();
  h.channel.handshakeRequired = true;
  const seen: number[] = [];
  h.channel.setHandshakeHandler((frame) => {
    seen.push(frame.payloadType);
    return 'accepted';
  });
  h.channel.receive(input(0, 'typed too early'));
  h.channel.receive(input(1, '{}', 6));
  t.same(h.acks().map((a) => a.AcknowledgedMessageSequenceNumber), [0, 1]);
  t.equal(h.handled.length, 0, 'data handler never saw the early keystrokes');
  t.same(seen, [6]);
  h.channel.handshakeComplete = true;
  h.channel.receive(input(2, 'now'));
  t.same(h.handled.map((f) => f.payload.toString()), ['now']);
});

t.test('RTO estimator follows §6.4', async (t) => {
  const rto = new RtoEstimator();
  t.same([rto.srtt, rto.rttvar, rto.rto], [100, 0, 200]);
  rto.addSample(50);
  t.equal(rto.rttvar, 12.5);
  t.equal(rto.srtt, 93.75);
  t.equal(rto.rto, 143.75);
  rto.addSample(93.75);
  t.equal(rto.rto, 93.75 + Math.max(10, 4 * 0.75 * 12.5));
  const slow = new RtoEstimator();
  slow.addSample(5000);
  t.equal(slow.rto, 1000, 'capped at 1 s');
  const fast = new RtoEstimator();
  for (let i = 0; i < 200; i++) fast.addSample(0);
  t.ok(fast.rto >= 10 && fast.rto < 11, 'floor is the 10 ms granularity above SRTT');
});

t.test('resend scheduler: oldest unacked only, after RTO, lastSent updated', async (t) => {
  const h = harness({ tickMs: 5 });
  h.channel.start();
  t.teardown(() => h.channel.close());
  h.channel.sendStream(1, Buffer.from('a'));
  h.channel.sendStream(1, Buffer.from('b'));
  h.channel.resendTick();
  t.equal(h.sent.length, 2, 'nothing resent before RTO');
  h.clock.now += 201; // just past the initial 200 ms RTO
  // The timer of start() takes the next turn; one turn sends every frame it resends at once.
  await waitFor(() => h.sent.length > 2, { timeoutMs: 5000, what: 'a resend by the scheduler' });
  t.equal(h.sent.length, 3, 'exactly one resend although both are overdue');
  t.ok(h.sent[2]?.equals(h.sent[0] as Buffer), 'resent bytes are identical (same MessageId and CreatedDate)');
  h.channel.resendTick();
  t.equal(h.sent.length, 3, 'lastSent was updated: no resend every tick');
  h.clock.now += 50;
  h.channel.receive(ackOf(0));
  t.equal(h.channel.rto.srtt, 0.875 * 100 + 0.125 * 50, 'RTT sample measured from the resend');
  h.clock.now += 1000;
  await waitFor(() => h.sent.length > 3, { timeoutMs: 5000, what: 'the next resend' });
  t.ok(h.sent[3]?.equals(h.sent[1] as Buffer), 'the next oldest is resent once the first is acked');
});

t.test('pause_publication stops sending and resending; input resumes it', async (t) => {
  const h = harness({ tickMs: 5 });
  t.teardown(() => h.channel.close());
  let resumed = 0;
  h.channel.onResume(() => resumed++);
  h.channel.receive(control('pause_publication'));
  t.ok(h.channel.paused);
  h.channel.sendStream(1, Buffer.from('held'));
  t.equal(h.sent.length, 0, 'not sent while paused');
  t.equal(h.channel.nextOutSeq, 1, 'but numbered');
  t.equal(h.channel.unackedCount, 1, 'and buffered');
  h.clock.now += 5000;
  h.channel.resendTick();
  t.equal(h.sent.length, 0, 'no retransmission while paused');
  h.channel.receive(input(0, 'x'));
  t.notOk(h.channel.paused, 'input_stream_data resumes');
  t.equal(resumed, 1);
  h.channel.resendTick();
  const data = h.decoded().filter((f) => f.messageType === 'output_stream_data');
  t.same(data.map((f) => f.payload.toString()), ['held'], 'held frame goes out through retransmission');
  h.channel.receive(control('pause_publication'));
  h.channel.receive(control('start_publication'));
  t.notOk(h.channel.paused, 'start_publication resumes');
  h.channel.receive(control('pause_publication'));
  h.channel.receive(ackOf(0));
  t.notOk(h.channel.paused, 'an acknowledge resumes');
});

t.test('drain waits for acks, bounded by its timeout', async (t) => {
  const h = harness();
  h.channel.sendStream(1, Buffer.from('a'));
  // The hand-driven clock stands still: drain can only end through the ack.
  const drained = h.channel.drain(1000, 5);
  h.channel.receive(ackOf(0));
  t.equal(await drained, true);
  h.channel.sendStream(1, Buffer.from('b'));
  const realNow = Date.now();
  const channel = new AgentChannel({ sessionId: 's', send: () => undefined });
  channel.sendStream(1, Buffer.from('never acked'));
  t.equal(await channel.drain(50, 10), false);
  t.ok(Date.now() - realNow >= 45);
  channel.close();
});

t.test('agent_session_state report', async (t) => {
  const h = harness();
  h.channel.sendSessionState('Terminating');
  const [frame] = h.decoded();
  t.equal(frame?.messageType, 'agent_session_state');
  t.equal(frame?.flags, 3);
  t.same(JSON.parse(frame?.payload.toString() ?? ''), {
    SchemaVersion: 1,
    SessionState: 'Terminating',
    SessionId: 'sim-0123456789abcdef0',
  });
});

t.test('handshake: request, response, complete with nanosecond timing', async (t) => {
  const h = harness();
  h.channel.handshakeRequired = true;
  const outcome = performHandshake(h.channel, {
    agentVersion: '3.3.987.0',
    sessionType: 'Port',
    properties: { portNumber: '80', type: 'LocalPortForwarding' },
    customerMessage: (v) => `hello ${v}`,
  });
  const [request] = h.decoded();
  t.equal(request?.payloadType, 5);
  t.equal(request?.sequenceNumber, 0);
  t.equal(
    request?.payload.toString(),
    '{"AgentVersion":"3.3.987.0","RequestedClientActions":[{"ActionType":"SessionType",' +
      '"ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"80","type":"LocalPortForwarding"}}}]}',
  );
  h.channel.receive(input(0, 'early keystroke'));
  h.channel.receive(
    input(
      1,
      '{"ClientVersion":"1.2.700.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}',
      6,
    ),
  );
  const result = await outcome;
  t.equal(result.clientVersion, '1.2.700.0');
  t.ok(h.channel.handshakeComplete);
  const complete = h.decoded().find((f) => f.payloadType === 7);
  t.equal(complete?.sequenceNumber, 1);
  const body = JSON.parse(complete?.payload.toString() ?? '{}') as Record<string, unknown>;
  t.same(Object.keys(body), ['HandshakeTimeToComplete', 'CustomerMessage']);
  t.ok(Number.isInteger(body.HandshakeTimeToComplete) && (body.HandshakeTimeToComplete as number) > 1000, 'nanoseconds');
  t.equal(body.CustomerMessage, 'hello 1.2.700.0');
  t.equal(h.handled.length, 0);
});

t.test('handshake: failure status and timeout end the session with a message', async (t) => {
  const h = harness();
  h.channel.handshakeRequired = true;
  const failing = performHandshake(h.channel, { agentVersion: '3.3.987.0', sessionType: 'Port', properties: {} });
  h.channel.receive(
    input(
      0,
      '{"ClientVersion":"1.2.700.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":2,"ActionResult":null,"Error":"Failed to process action SessionType: nope"}],"Errors":["nope"]}',
      6,
    ),
  );
  // datachannel.go, handleHandshakeResponse: "<type> failed on client with status <n> error: <text>".
  await t.rejects(failing, {
    message: 'SessionType failed on client with status 2 error: Failed to process action SessionType: nope',
  });
  const timedOut = performHandshake(harness().channel, {
    agentVersion: '3.3.987.0',
    sessionType: 'Port',
    properties: {},
    timeoutMs: 20,
  });
  await t.rejects(timedOut, { message: HANDSHAKE_TIMEOUT_MESSAGE });
});

t.test('handshake responses as datachannel.go reads them: empty actions accepted, unparsable ones not acked', async (t) => {
  const acksOf = (h: ReturnType<typeof harness>) => h.acks().map((a) => a.AcknowledgedMessageSequenceNumber);
  const empty = harness();
  empty.channel.handshakeRequired = true;
  const accepted = performHandshake(empty.channel, { agentVersion: '3.3.987.0', sessionType: 'Port', properties: {} });
  empty.channel.receive(input(0, '{"ClientVersion":"1.2.700.0","ProcessedClientActions":[]}', 6));
  t.same(await accepted, { clientVersion: '1.2.700.0' }, 'an empty ProcessedClientActions is fine');
  t.same(acksOf(empty), [0]);

  const nothing = harness();
  nothing.channel.handshakeRequired = true;
  const minimal = performHandshake(nothing.channel, { agentVersion: '3.3.987.0', sessionType: 'Port', properties: {} });
  nothing.channel.receive(input(0, '{"clientversion":"x","processedclientactions":null}', 6));
  t.same(await minimal, { clientVersion: 'x' }, 'field names match case-insensitively; null is an empty list');

  for (const bad of ['not json', '[]', '{"ProcessedClientActions":{}}', '{"ClientVersion":7}', '{"ProcessedClientActions":[{"ActionStatus":"1"}]}', '{"Errors":[1]}']) {
    const h = harness();
    h.channel.handshakeRequired = true;
    const waiting = performHandshake(h.channel, { agentVersion: '3.3.987.0', sessionType: 'Port', properties: {}, timeoutMs: 50 });
    h.channel.receive(input(0, bad, 6));
    t.same(acksOf(h), [], `${bad}: not acked`);
    t.equal(h.channel.expectedInSeq, 0, 'not consumed either: the client retransmits it');
    await t.rejects(waiting, { message: HANDSHAKE_TIMEOUT_MESSAGE }, `${bad}: the wait times out`);
  }
});

t.test('KMS handshake without a processed KMSEncryption action: the plugin crashes on the challenge', async (t) => {
  const h = harness();
  h.channel.handshakeRequired = true;
  const decrypts: unknown[] = [];
  const crashing = performHandshake(h.channel, {
    agentVersion: '3.3.987.0',
    sessionType: 'Standard_Stream',
    properties: null,
    kms: {
      keyId: 'alias/k',
      randomChallenge: true,
      requireChallengeAck: false,
      sessionId: 's',
      targetId: 'i-0123456789abcdef0',
      decryptDataKey: (...args) => {
        decrypts.push(args);
        return Buffer.alloc(64);
      },
    },
  });
  h.channel.receive(input(0, '{"ClientVersion":"1.2.700.0","ProcessedClientActions":[]}', 6));
  // sendEncryptionChallenge encrypts with a cipher that never got a key: a nil dereference,
  // which runpluginutil reports as the plugin's crash.
  await t.rejects(crashing, {
    message: 'Plugin crashed with message runtime error: invalid memory address or nil pointer dereference!',
  });
  t.same(decrypts, [], 'no KMS call');
});

t.test('UTF-8 hold-back as the agent does it (agent/session/shell/shell.go, processStdoutData)', async (t) => {
  const hex = (b: Buffer) => b.toString('hex');
  const split = (bytes: number[] | Buffer) => {
    const r = splitAgentUtf8(Buffer.from(bytes));
    return [hex(r.send), hex(r.hold)];
  };
  const euro = [0xe2, 0x82, 0xac];
  t.same(split(Buffer.from('abc')), ['616263', '']);
  t.same(split([0x61, ...euro]), ['61e282ac', ''], 'a complete character goes out');
  t.same(split([0x61, 0xe2]), ['61', 'e2'], 'an incomplete sequence at the end is held');
  t.same(split([0x61, 0xe2, 0x82]), ['61', 'e282']);
  t.same(split([0xf0, 0x9f, 0x98]), ['', 'f09f98']);
  t.same(split([0x61, 0x62, 0xff]), ['6162', 'ff'], 'any invalid byte in the last 3 is held too');
  t.same(split([0xff, 0x61, 0x62]), ['', 'ff6162'], '…with everything after it');
  t.same(split([0xff, 0x61, 0x62, 0x63]), ['ff616263', ''], 'an invalid byte further back goes out as it is');
  t.same(split([0xef, 0xbf, 0xbd, 0x61]), ['ef61', ''], 'a real U+FFFD further back loses two of its bytes (Go reads it as RuneError)');
  t.same(split([0x61, 0xef, 0xbf, 0xbd]), ['61', 'efbfbd'], 'a real U+FFFD at the end is held');
  t.same(split([0xed, 0xa0, 0x80, 0x61, 0x62]), ['eda0', '806162'], 'an encoded surrogate is invalid byte by byte');

  // Held bytes are dropped when the source ends (the agent's read loop just returns).
  const sent: Buffer[] = [];
  const pump = new OutputPump({
    send: (chunk) => sent.push(chunk),
    isPaused: () => false,
    initialDelayMs: 0,
    pacing: false,
    holdBackPartialUtf8: true,
    pauseSource: () => undefined,
    resumeSource: () => undefined,
  });
  const running = pump.run();
  pump.push(Buffer.from([0x61, 0x62, 0xe2, 0x82]));
  pump.end();
  await running;
  t.same(sent.map(hex), ['6162'], 'the held e2 82 never goes out');
});

t.test('UTF-8 hold-back: walking only the tail splits exactly as a walk over every rune', async (t) => {
  // Reference: Go's rune walk from the first byte, a rune valid when isUtf8 accepts it
  // (the same rules as utf8.DecodeRune), with no shortcut.
  const runeAt = (data: Buffer, i: number): { size: number; error: boolean } => {
    for (const size of [1, 2, 3, 4]) {
      if (i + size > data.length) break;
      const piece = data.subarray(i, i + size);
      if (isUtf8(piece)) return { size, error: piece.equals(Buffer.from([0xef, 0xbf, 0xbd])) };
    }
    return { size: 1, error: true };
  };
  const reference = (data: Buffer): [string, string] => {
    let send = '';
    let runStart = 0;
    let i = 0;
    while (i < data.length) {
      const { size, error } = runeAt(data, i);
      if (error) {
        if (data.length - i < 4) break;
        send += data.subarray(runStart, i + 1).toString('hex');
        runStart = i + size;
      }
      i += size;
    }
    send += data.subarray(runStart, i).toString('hex');
    return [send, data.subarray(i).toString('hex')];
  };
  const random = seededRandom(14);
  const pieces = [[0x61], [0x0a], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xef, 0xbf, 0xbd], [0xff], [0x80], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xf0, 0x9f]];
  let mismatches = 0;
  for (let n = 0; n < 4000; n++) {
    const bytes: number[] = [];
    if (n % 4 === 3) {
      // Binary data (cp sends raw bytes through a raw terminal).
      const count = Math.floor(random() * 40);
      for (let k = 0; k < count; k++) bytes.push(Math.floor(random() * 256));
    } else {
      // Mostly valid text, now and then a bad or cut piece anywhere, the end included.
      const count = Math.floor(random() * 12);
      for (let k = 0; k < count; k++) bytes.push(...(pieces[random() < 0.7 ? Math.floor(random() * 5) : Math.floor(random() * pieces.length)] as number[]));
    }
    const data = Buffer.from(bytes);
    const got = splitAgentUtf8(data);
    const want = reference(data);
    if (got.send.toString('hex') !== want[0] || got.hold.toString('hex') !== want[1]) {
      if (mismatches++ < 5) t.fail(`${data.toString('hex')}: got ${got.send.toString('hex')} | ${got.hold.toString('hex')}, want ${want.join(' | ')}`);
    }
  }
  t.equal(mismatches, 0, 'every one of 4000 inputs split as the rune walk does');
});
