import t from 'tap';
import { decodeFrame } from '../src/protocol/frame.ts';
import { encodeSize } from '../src/protocol/payloads.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.ts';
import {
  RawClient,
  ssm,
  type ClientOptions,
  type Received,
  type StartResponse,
} from './helpers/sim-raw-client.ts';

/*
 * Drives the simulator with a client written from the codec alone (no client channel
 * code, test/helpers/sim-raw-client.ts), so these tests check the simulator's bytes, not
 * our client's.
 */

const TARGET = 'i-0123456789abcdef0';
const CLIENT_ID = 'c0ffee00-0000-4000-8000-000000000001';

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

/** Opens a client on this session (ClientId CLIENT_ID, 5 s deadlines); url and token may be wrong on purpose. */
function open(
  sim: Simulator,
  start: StartResponse,
  access: { url?: string; token?: string } = {},
  extra: Partial<ClientOptions> = {},
): Promise<RawClient> {
  return RawClient.open(access.url ?? start.StreamUrl, access.token ?? start.TokenValue, {
    sessionId: start.SessionId,
    target: TARGET,
    endpoint: sim.endpoint,
    clientId: CLIENT_ID,
    timeoutMs: 5000,
    ...extra,
  });
}

/** A simulator, a StartSession on it and a client on that session, all torn down with `t`. */
async function shellSession(t: TestContext, options: SimulatorOptions = {}) {
  const sim = await startSimulator(options);
  t.teardown(() => sim.close());
  const start: StartResponse = await ssm(sim.endpoint, 'StartSession', { Target: TARGET });
  const client = await open(sim, start);
  t.teardown(() => client.close());
  return { sim, start, client };
}

const count = (text: string, part: string) => text.split(part).length - 1;

t.test('shell session end to end with a codec-only client', async (t) => {
  const { sim, start, client } = await shellSession(t, { shellDelayMs: 150 });

  await client.untilText(/\$ $/);
  const first = client.frames()[0];
  t.equal(first?.messageType, 'output_stream_data', 'no handshake: the first frame is shell output');
  t.equal(first?.sequenceNumber, 0);
  t.equal(first?.flags, 1, 'Flags 1 on seq 0');
  t.equal(first?.payloadType, 1);
  t.match(client.text(), /sh-\d+\.\d+\$ $/, 'ssm-user style prompt');

  await t.test('input is acked with a §4.1 payload and reaches bash', async (t) => {
    const bytes = client.input('echo hello-$((6*7))\r');
    const sent = decodeFrame(bytes);
    const [ack] = await client.until(() => client.acksFor(0).length > 0 && client.acksFor(0), 'ack of seq 0');
    t.equal(ack?.sequenceNumber, 0);
    t.equal(ack?.flags, 3);
    t.equal(ack?.payloadType, 0);
    t.equal(ack?.schemaVersion, 1);
    t.equal(
      ack?.payload.toString(),
      `{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"${sent.messageId}",` +
        '"AcknowledgedMessageSequenceNumber":0,"IsSequentialMessage":true}',
    );
    await client.untilText(/[\r\n]hello-42\r\n/);
    t.ok(
      client.frames('output_stream_data').slice(1).every((f) => f.flags === 0),
      'Flags 0 after seq 0',
    );
    t.ok(
      client.frames('output_stream_data').every((f) => f.payload.length > 0 && f.payload.length <= 1027),
      'no empty or oversized payloads',
    );

    client.ws.send(bytes); // the same frame again
    await client.until(() => client.acksFor(0).length === 2, 'second ack of seq 0');
    client.input('echo dup-check\r');
    await client.untilText(/[\r\n]dup-check\r\n/);
    t.equal(count(client.text(), 'hello-42'), 1, 'the duplicate was not executed again');
  });

  await t.test('out-of-order input is acked, held, and run after the gap is filled', async (t) => {
    const firstSeq = client.nextSeq;
    client.input('echo second-$((1+1))\r', 1, { seq: firstSeq + 1 });
    await client.until(() => client.acksFor(firstSeq + 1).length > 0, 'ack of the early frame');
    // Checked now and by the order below: had the early frame reached bash, second-2 would
    // be printed before first-1.
    t.notMatch(client.text(), /second/, 'not delivered to bash before the gap is filled');
    client.input('echo first-$((0+1))\r', 1, { seq: firstSeq });
    client.nextSeq = firstSeq + 2;
    await client.untilText(/[\r\n]second-2\r\n/);
    t.ok(client.text().search(/[\r\n]first-1\r\n/) < client.text().search(/[\r\n]second-2\r\n/), 'run in sequence order');
    t.equal(client.acksFor(firstSeq + 1).length, 1, 'buffered frame acked once');
  });

  await t.test('Size payload resizes the pty', async (t) => {
    client.input(encodeSize({ cols: 123, rows: 45 }), 3);
    client.input('stty size\r');
    await client.untilText(/[\r\n]45 123\r\n/);
    t.pass('stty reports the rows and cols sent');
  });

  await t.test('an unacked output frame is retransmitted unchanged after about one RTO', async (t) => {
    const agent = sim.sessions.get(start.SessionId)?.agent;
    const withheld = client.expectedSeq;
    client.withholdAck.add(withheld);
    const resendsBefore = agent?.channel.stats.resends ?? 0;
    client.input('echo rexmit\r');
    const copies = await client.until(() => {
      const all = client.received.filter((r) => r.frame?.messageType === 'output_stream_data' && r.frame.sequenceNumber === withheld);
      return all.length >= 2 && all;
    }, 'a retransmission');
    const [original, resent] = copies as [Received, Received];
    t.ok(resent.bytes.equals(original.bytes), 'identical bytes: same MessageId, CreatedDate, digest');
    const gap = resent.at - original.at;
    t.ok(gap >= 10 && gap < 1500, `resent after ${gap} ms (RTO plus at most one 100 ms tick)`);
    t.ok((agent?.channel.stats.resends ?? 0) > resendsBefore);
    await client.until(() => agent?.channel.unackedCount === 0, 'the agent sees the ack of the resend');
  });

  await t.test('exit ends the session with channel_closed, then the socket closes', async (t) => {
    client.input('exit\r');
    const closed = await client.closed;
    const last = client.received.at(-1)?.frame;
    t.equal(last?.messageType, 'channel_closed');
    t.equal(last?.sequenceNumber, 0);
    t.equal(last?.flags, 3);
    t.equal(last?.schemaVersion, 1);
    t.ok(Math.abs((last?.createdDate ?? 0) - Date.now()) < 10_000, 'current CreatedDate');
    const payload = JSON.parse(last?.payload.toString() ?? '{}') as Record<string, unknown>;
    t.equal(payload.Output, '');
    t.equal(payload.SessionId, start.SessionId);
    t.equal(payload.MessageType, 'channel_closed');
    t.equal(payload.MessageId, last?.messageId);
    t.equal(typeof payload.CreatedDate, 'string');
    t.equal(closed.code, 1000);
    t.match(client.text(), /exit\r\n$/);
    t.notOk(client.frames().some((f) => f.messageType === 'agent_session_state'), 'agent state never reaches the client');
    t.equal(sim.sessions.get(start.SessionId)?.status, 'terminated');
  });
});

t.test('OpenDataChannel is required and checked', async (t) => {
  const sim = await startSimulator({ shellDelayMs: 50 });
  t.teardown(() => sim.close());
  const start: StartResponse = await ssm(sim.endpoint, 'StartSession', { Target: TARGET });

  const wrong = await open(sim, start, { token: 'not-the-token' });
  const wrongClose = await wrong.closed;
  t.equal(wrongClose.code, 1008);
  t.notMatch(wrongClose.reason, start.TokenValue.slice(0, 20));
  t.equal(wrong.received.length, 0, 'no frames for a bad token');

  const silent = await RawClient.connect(start.StreamUrl, {
    sessionId: start.SessionId,
    target: TARGET,
    endpoint: sim.endpoint,
  });
  silent.ws.send(Buffer.from('binary first'));
  t.equal((await silent.closed).code, 1008);
  // Anything sent on this connection before the refusal arrived before its close frame.
  t.equal(silent.received.length, 0, 'nothing is sent before OpenDataChannel');

  const unknown = await open(sim, start, { url: start.StreamUrl.replace(start.SessionId, 'sim-00000000000000000') });
  t.equal((await unknown.closed).code, 1008);

  const good = await open(sim, start);
  t.teardown(() => good.close());
  await good.untilText(/\$ $/);
  const records = sim.openDataChannelMessages.filter((r) => r.sessionId === start.SessionId);
  t.same(records.map((r) => r.accepted), [false, false, true]);
  const accepted = records[2]?.message ?? {};
  t.equal(accepted.MessageSchemaVersion, '1.0');
  t.equal(accepted.ClientVersion, '1.2.700.0');
  t.equal(accepted.ClientId, 'c0ffee00-0000-4000-8000-000000000001');
  t.match(accepted.RequestId, /^[0-9a-f-]{36}$/);
});

t.test('reconnect with the ResumeSession token keeps both sequence counters', async (t) => {
  const sim = await startSimulator({ shellDelayMs: 50 });
  t.teardown(() => sim.close());
  const start: StartResponse = await ssm(sim.endpoint, 'StartSession', { Target: TARGET });
  const first = await open(sim, start);
  await first.untilText(/\$ $/);
  first.input('echo one-$((0+1))\r');
  await first.untilText(/[\r\n]one-1\r\n.*\$ $/);
  await first.until(() => sim.sessions.get(start.SessionId)?.agent.channel.unackedCount === 0, 'all output acked');
  sim.disconnectClient(start.SessionId);
  await first.closed;
  await first.until(() => sim.sessions.get(start.SessionId)?.client === undefined, 'detach');
  t.ok(sim.sessions.get(start.SessionId)?.agent.channel.paused, 'agent paused while no client is attached');

  const resumed: StartResponse = await ssm(sim.endpoint, 'ResumeSession', { SessionId: start.SessionId });
  const stale = await open(sim, start);
  t.equal((await stale.closed).code, 1008, 'the old token no longer works');

  const second = await open(
    sim,
    start,
    { url: resumed.StreamUrl, token: resumed.TokenValue },
    { nextSeq: first.nextSeq, expectedSeq: first.expectedSeq },
  );
  t.teardown(() => second.close());
  second.input('echo two-$((1+1))\r');
  await second.untilText(/[\r\n]two-2\r\n/);
  const seqs = second.frames('output_stream_data').map((f) => f.sequenceNumber);
  t.ok(seqs.length > 0 && Math.min(...seqs) >= first.expectedSeq, 'agent output continues its sequence');
  t.equal(second.frames('output_stream_data')[0]?.flags, 0);
  t.equal(second.acksFor(first.nextSeq).length, 1, 'agent expected our next sequence number');
  t.equal(sim.sessions.get(start.SessionId)?.connectionCount, 2);

  await ssm(sim.endpoint, 'TerminateSession', { SessionId: start.SessionId });
  await second.closed;
  t.equal(second.frames().at(-1)?.messageType, 'channel_closed', 'TerminateSession ends with channel_closed');
  t.ok(sim.apiCalls.some((c) => c.operation === 'TerminateSession'));
});

t.test('fault hooks act on the wire', async (t) => {
  const { sim, start, client } = await shellSession(t, { shellDelayMs: 50 });
  await client.untilText(/\$ $/);
  const agent = sim.sessions.get(start.SessionId)?.agent;
  const seen: string[] = [];
  const stop = sim.observe((direction, frame) => {
    if (frame.includes('marker-7d1f')) seen.push(direction);
  });

  await client.quiet();
  // The next two frames to the client: the ack of our input, then the first echo output.
  sim.faults.corruptNext('toClient', 2);
  client.input('echo marker-7d1f\r');
  await client.untilText(/[\r\n]marker-7d1f\r\n/);
  const corrupted = client.received.filter((r) => r.error);
  t.same(corrupted.map((r) => r.error?.reason), ['digest mismatch', 'digest mismatch']);
  const resent = client.received.find((r) => r.frame && r.bytes.length === corrupted[1]?.bytes.length);
  t.ok(resent, 'the corrupted output frame was retransmitted intact (the client never acked it)');
  t.ok((agent?.channel.stats.resends ?? 0) >= 1);
  t.ok(seen.includes('toAgent'), 'the observer saw the keystrokes in plaintext');
  t.ok(sim.frameLog.some((e) => e.direction === 'toAgent' && e.frame.includes('marker-7d1f')));
  stop();

  await client.quiet();
  const dropped = agent?.channel.stats.malformedDropped ?? 0;
  sim.faults.truncateNext('toAgent', 1);
  const truncated = client.input('echo trunc-ok\r');
  await client.until(() => agent?.channel.stats.malformedDropped === dropped + 1, 'agent drops the truncated frame');
  t.equal(client.acksFor(decodeFrame(truncated).sequenceNumber).length, 0, 'no ack for a truncated frame');
  client.ws.send(truncated); // our "retransmission"
  await client.untilText(/[\r\n]trunc-ok\r\n/);

  sim.faults.closeClientAfter({ frames: 1, direction: 'toAgent' });
  client.input('echo bye\r');
  const closed = await client.closed;
  t.equal(closed.code, 1006, 'connection dropped abruptly');
});

t.test('default agent timing and chunking: 1 s before the first read, ≤1024-byte reads, whole UTF-8 characters', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const started = Date.now();
  const start: StartResponse = await ssm(sim.endpoint, 'StartSession', { Target: TARGET });
  const client = await open(sim, start);
  t.teardown(() => client.close());
  await client.untilText(/\$ $/);
  const firstAt = client.received[0]?.at ?? 0;
  t.ok(firstAt - started >= 950, `first output ${firstAt - started} ms after StartSession`);

  client.input("printf 'x%.0s' $(seq 1 5000); printf '\\xe2\\x82\\xac%.0s' $(seq 1 3000); echo ' done'\r");
  await client.untilText(/€ done\r\n/);
  const payloads = client.frames('output_stream_data').map((f) => f.payload);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  t.ok(payloads.every((p) => p.length > 0 && p.length <= 1027), 'every payload is 1..1027 bytes');
  t.ok(payloads.filter((p) => p.length >= 1022).length >= 10, 'large output goes out in (nearly) full 1024-byte reads');
  t.doesNotThrow(() => {
    for (const p of payloads) decoder.decode(p);
  }, 'no frame splits a UTF-8 character');
  t.ok(payloads.some((p) => p.length > 1024), 'held-back bytes were prepended to the next read');
  t.equal(count(client.text(), '€'), 3000);
});
