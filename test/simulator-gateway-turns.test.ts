import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { READ_BYTES_PER_TURN, ReadTurns } from '../src/simulator/agent/read-turns.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { callTarget, RawClient, type StartResponse } from './helpers/sim-raw-client.ts';

/*
 * The agent reads the service's WebSocket in its own goroutine
 * (agent/session/communicator/websocketchannel.go, Open), while its output to the service
 * (agent/session/datachannel/datachannel.go, SendStreamDataMessage, from WritePump in
 * agent/session/plugins/port/port_mux.go) and its destination copies (port_mux.go,
 * handleDataTransfer) run in goroutines of their own: a long run of client input never
 * holds up the rest of the agent. In Node one socket readiness event brings up to
 * 32 × 64 KiB of frames back to back, so the simulated agent bounds what it processes per
 * event-loop turn and the gateway stops reading the client meanwhile.
 */

const TARGET = 'i-0123456789abcdef0';
/** Below 1.1.70: basic port mode, input bytes go straight to the destination socket. */
const BASIC_CLIENT = '1.1.61.0';
const FRAME_PAYLOAD = 1024;
/** input_stream_data header (120 bytes) plus a 1 KiB payload. */
const FRAME_BYTES = 120 + FRAME_PAYLOAD;

/**
 * Calls `onTurnEnd(count)` with how many events `mark` saw in each window from one
 * setImmediate to the next (a window opens at its first event). The agent's budget is per
 * event-loop iteration; a window can hold the end of one iteration and the start of the
 * next, so it may see up to two budgets.
 */
function perTurnCounter(onTurnEnd: (count: number) => void): { mark: (n?: number) => void } {
  let count = 0;
  let pending = false;
  return {
    mark(n = 1) {
      count += n;
      if (pending) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        onTurnEnd(count);
        count = 0;
      });
    },
  };
}

async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

t.test('a long burst of client input is processed a bounded amount per turn, every frame acked in order', async (t) => {
  const received = createHash('sha256');
  let receivedBytes = 0;
  const sink = createServer((socket: Socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received.update(chunk);
      receivedBytes += chunk.length;
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const connections = new Set<Socket>();
  sink.on('connection', (socket: Socket) => connections.add(socket));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of connections) socket.destroy();
    sink.close(() => resolve());
  }));
  const sim = await startSimulator({ pacing: false, frameLogLimit: 0 });
  t.teardown(() => sim.close());
  const { status, json } = await callTarget(sim.endpoint, 'AmazonSSM.StartSession', {
    Target: TARGET,
    DocumentName: 'AWS-StartPortForwardingSession',
    Parameters: { portNumber: [String((sink.address() as { port: number }).port)] },
  });
  t.equal(status, 200);
  const start = json as StartResponse;
  const client = await RawClient.open(start.StreamUrl, start.TokenValue, {
    sessionId: start.SessionId,
    target: TARGET,
    endpoint: sim.endpoint,
    clientVersion: BASIC_CLIENT,
    strictFrames: true,
  });
  t.teardown(() => client.close());
  await until(() => client.handshakeComplete, 'HandshakeComplete');

  // The agent acks each input frame as it processes it, so acks per turn count the frames
  // it processed in that turn; input frames per turn count what the gateway read.
  let maxAcksPerTurn = 0;
  let maxInputBytesPerTurn = 0;
  const acks = perTurnCounter((n) => (maxAcksPerTurn = Math.max(maxAcksPerTurn, n)));
  const inputs = perTurnCounter((n) => (maxInputBytesPerTurn = Math.max(maxInputBytesPerTurn, n)));
  let acksSeen = 0;
  const stop = sim.observe((direction, frame, sessionId) => {
    if (sessionId !== start.SessionId) return;
    const type = frame.toString('latin1', 4, 36).replace(/\0+$/, '').trim();
    if (direction === 'toClient' && type === 'acknowledge') {
      acksSeen++;
      acks.mark();
    } else if (direction === 'toAgent' && type === 'input_stream_data') {
      inputs.mark(frame.length);
    }
  });
  t.teardown(stop);

  const firstSeq = client.nextSeq;
  const data = randomBytes(8 * 1024 * 1024);
  client.sendData(data); // 8192 frames written at once: the kernel holds megabytes for the gateway
  const frames = data.length / FRAME_PAYLOAD;
  await until(() => receivedBytes === data.length, 'all input at the destination');
  await until(() => acksSeen >= frames && client.unacked.size === 0, 'every frame acked');

  t.equal(createHash('sha256').update(data).digest('hex'), received.digest('hex'), 'the destination got the bytes in order');
  t.equal(client.nextSeq - firstSeq, frames);
  // One iteration's budget, its last frame, and the frame a destination's 'drain' retries
  // (the one the handler deferred when it held input, agent-channel.ts releaseInput).
  const framesPerTurn = Math.ceil(READ_BYTES_PER_TURN / FRAME_BYTES) + 2;
  t.ok(
    maxAcksPerTurn <= 2 * framesPerTurn,
    `at most 2 × ${framesPerTurn} frames processed in one window (saw ${maxAcksPerTurn}); unbounded, one turn took ~1,800 (2 MB)`,
  );
  // Bytes the gateway takes off the socket in a turn: the budget plus what was already
  // read when it paused the socket (the chunk being parsed and the stream's buffer).
  t.ok(
    maxInputBytesPerTurn <= READ_BYTES_PER_TURN + 4 * 64 * 1024,
    `the gateway stops reading the client while frames wait (saw ${maxInputBytesPerTurn} bytes in one turn)`,
  );
});

t.test('ReadTurns keeps order across turns and reports its backlog', async (t) => {
  const processed: number[] = [];
  const backlogEvents: boolean[] = [];
  const reader = new ReadTurns({
    bytesPerTurn: 10,
    process: (frame) => {
      processed.push(frame.readUInt8(0));
    },
    onBacklog: (backlogged) => backlogEvents.push(backlogged),
  });
  for (let i = 0; i < 12; i++) reader.push(Buffer.from([i, 0, 0, 0])); // 4 bytes each: 3 per turn
  t.same(processed, [0, 1, 2], 'the first turn stops once its budget is used');
  t.equal(reader.backlogged, true);
  t.same(backlogEvents, [true]);
  await until(() => !reader.backlogged || undefined, 'the backlog to drain', 2000);
  t.same(processed, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'arrival order kept');
  t.same(backlogEvents, [true, false]);

  reader.push(Buffer.from([99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  reader.push(Buffer.from([100]));
  reader.close();
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(processed.at(-1), 99, 'frames still waiting when the session ends are dropped');
  t.same(backlogEvents, [true, false, true, false]);
});
