import t from 'tap';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import { FaultInjector } from '../src/simulator/faults.ts';
import { LinkShaper, type LinkShape } from '../src/simulator/link-shaper.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { ssm, RawClient, type StartResponse } from './helpers/sim-raw-client.ts';
import path from 'node:path';
import { ROOT } from './helpers/aws-cli-sandbox.ts';
import { start as startProcess } from './helpers/processes.ts';

const shape = (s: Partial<LinkShape>): LinkShape => ({ latencyMs: 0, jitterMs: 0, bytesPerSecond: 0, ...s });

t.test('the shaper: latency, serialisation at the bandwidth limit, jitter without overtaking', async (t) => {
  const link = new LinkShaper();
  t.ok(link.passesThrough(shape({}), 0), 'an unshaped idle link passes frames through');
  t.notOk(link.passesThrough(shape({ latencyMs: 1 }), 0));

  // 1 MB/s: a 1000-byte frame takes 1 ms on the link; then 50 ms of propagation.
  const slow = shape({ latencyMs: 50, bytesPerSecond: 1e6 });
  const arrivals = [0, 0, 0, 0].map(() => link.schedule(slow, 1000, 1000, () => 0));
  t.same(arrivals, [1051, 1052, 1053, 1054], 'frames queue behind each other on the bottleneck');
  t.equal(link.schedule(slow, 2000, 1000, () => 0), 2051, 'an idle link starts again from now');
  t.notOk(link.passesThrough(shape({}), 2050), 'a frame still in flight keeps later ones behind it');

  const jittery = new LinkShaper();
  const draws = [0.9, 0.1, 0.5, 0.0];
  const jitterShape = shape({ latencyMs: 10, jitterMs: 20 });
  const times = draws.map((draw, i) => jittery.schedule(jitterShape, i, 100, () => draw));
  t.same(times, [28, 28, 28, 28], 'a smaller jitter never lets a frame overtake the previous one');
  t.equal(jittery.schedule(jitterShape, 100, 100, () => 0.5), 120, 'latency plus the drawn jitter');
});

t.test('the fault injector delivers shaped frames in order, no earlier than the link allows', async (t) => {
  const faults = new FaultInjector(3);
  t.teardown(() => faults.dispose());
  // 200 kB/s: 20 frames of 1000 bytes need 100 ms on the link, plus 30 ms latency and up to 10 ms jitter.
  faults.configure('toAgent', { latencyMs: 30, jitterMs: 10, bytesPerSecond: 200_000 });
  const events = new EventEmitter();
  const arrivals: Array<[number, number]> = [];
  const start = Date.now();
  for (let i = 0; i < 20; i++) {
    const frame = Buffer.alloc(1000, i);
    faults.apply('toAgent', frame, (bytes) => {
      arrivals.push([bytes[0] as number, Date.now() - start]);
      if (arrivals.length === 20) events.emit('all');
    });
  }
  t.equal(arrivals.length, 0, 'nothing is delivered synchronously');
  await once(events, 'all');
  t.same(arrivals.map(([i]) => i), Array.from({ length: 20 }, (_, i) => i), 'order kept');
  t.ok((arrivals[0]?.[1] ?? 0) >= 35, `the first frame waited its serialisation time and the latency (${arrivals[0]?.[1]} ms)`);
  t.ok((arrivals[19]?.[1] ?? 0) >= 130, `the last waited for all 20 to cross the link (${arrivals[19]?.[1]} ms)`);

  // The other direction is untouched; an unshaped direction delivers at once.
  const direct: number[] = [];
  faults.apply('toClient', Buffer.from('x'), () => direct.push(1));
  t.same(direct, [1], 'toClient is not shaped');
});

t.test('simulator option link: a codec-only client sees the round trip it was given', async (t) => {
  const sim = await startSimulator({ shellDelayMs: 0, link: { toAgent: { latencyMs: 40 }, toClient: { latencyMs: 60 } } });
  t.teardown(() => sim.close());
  const start: StartResponse = await ssm(sim.endpoint, 'StartSession', { Target: 'i-0123456789abcdef0' });
  const client = await RawClient.open(start.StreamUrl, start.TokenValue, {
    sessionId: start.SessionId,
    target: 'i-0123456789abcdef0',
    endpoint: sim.endpoint,
    clientId: 'c0ffee00-0000-4000-8000-000000000002',
    timeoutMs: 8000,
  });
  t.teardown(() => client.close());
  await client.untilText(/\$ $/);
  const sentAt = Date.now();
  const frame = client.input('echo shaped\n');
  const seq = frame.readBigInt64BE(48);
  await client.until(() => client.acksFor(Number(seq)).length > 0, 'the ack of the input');
  const rtt = Date.now() - sentAt;
  t.ok(rtt >= 98, `the ack came back after both one-way delays (${rtt} ms)`);
  await client.untilText(/shaped\r?\n/);
});

t.test('the simulator CLI refuses a malformed link switch in one line', async (t) => {
  const cli = path.join(ROOT, 'src/simulator/cli.ts');
  const bad = await startProcess(process.execPath, [cli, '--latency-ms', '50,x'], { env: { PATH: process.env.PATH ?? '' }, timeoutMs: 20_000 }).result;
  t.equal(bad.code, 1);
  t.match(bad.stderr.toString(), /^ssm-simulator: --latency-ms takes N or UP,DOWN \(non-negative numbers\), not "50,x"\n$/);
  const three = await startProcess(process.execPath, [cli, '--bandwidth', '1,2,3'], { env: { PATH: process.env.PATH ?? '' }, timeoutMs: 20_000 }).result;
  t.equal(three.code, 1);
  t.match(three.stderr.toString(), /^ssm-simulator: --bandwidth takes N or UP,DOWN/);
});
