import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultInjector } from '../src/simulator/faults.ts';

const frames = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`frame-${i}`.padEnd(130, '.')));

function run(faults: FaultInjector, input: Buffer[]): string[] {
  const out: string[] = [];
  for (const frame of input) faults.apply('toClient', frame, (bytes) => out.push(bytes.toString().replace(/\.+$/, '')));
  return out;
}

t.test('drop, duplicate and reorder are deterministic for a seed', async (t) => {
  const make = () => {
    const faults = new FaultInjector(1234);
    faults.configure('toClient', { dropRate: 0.2, duplicateRate: 0.2, reorderRate: 0.2 });
    t.teardown(() => faults.dispose());
    return faults;
  };
  const first = run(make(), frames(200));
  const second = run(make(), frames(200));
  t.same(first, second, 'same seed, same outcome');
  const other = new FaultInjector(99);
  other.configure('toClient', { dropRate: 0.2, duplicateRate: 0.2, reorderRate: 0.2 });
  t.teardown(() => other.dispose());
  t.not(JSON.stringify(run(other, frames(200))), JSON.stringify(first), 'another seed differs');
  const unique = new Set(first);
  t.ok(unique.size < 200 && unique.size > 120, `some frames dropped (${200 - unique.size})`);
  t.ok(first.length > unique.size, 'some frames duplicated');
  const order = first.map((f) => Number(f.slice(6)));
  t.ok(order.some((n, i) => i > 0 && n < (order[i - 1] ?? 0)), 'some frames reordered');
  t.same(run(new FaultInjector(), frames(3)), ['frame-0', 'frame-1', 'frame-2'], 'no faults by default');
});

t.test('a reordered frame is released right after the next one', async (t) => {
  const faults = new FaultInjector(7);
  t.teardown(() => faults.dispose());
  faults.configure('toAgent', { reorderRate: 1 });
  const out: string[] = [];
  const deliver = (bytes: Buffer) => out.push(bytes.toString());
  faults.apply('toAgent', Buffer.from('a'), deliver);
  t.same(out, [], 'held back');
  faults.apply('toAgent', Buffer.from('b'), deliver);
  t.same(out, ['b', 'a']);
  faults.configure('toAgent', { reorderRate: 0 });
  faults.configure('toAgent', { reorderRate: 1 });
  faults.apply('toAgent', Buffer.from('c'), deliver);
  await sleep(600);
  t.same(out, ['b', 'a', 'c'], 'a held frame with no successor is released after a while');
});

t.test('corrupt and truncate affect exactly the next n frames', async (t) => {
  const faults = new FaultInjector();
  t.teardown(() => faults.dispose());
  const original = frames(4);
  faults.corruptNext('toClient', 2);
  faults.truncateNext('toClient', 1);
  const out: Buffer[] = [];
  for (const frame of original) faults.apply('toClient', frame, (bytes) => out.push(bytes));
  t.equal(out[0]?.length, 65, 'first: corrupted and truncated to half');
  t.notOk(out[1]?.equals(original[1] as Buffer), 'second: corrupted');
  t.equal(out[1]?.length, original[1]?.length);
  t.equal(
    out[1]?.findIndex((b, i) => b !== original[1]?.[i]),
    (original[1]?.length ?? 0) - 1,
    'only the last payload byte differs',
  );
  t.ok(out[2]?.equals(original[2] as Buffer) && out[3]?.equals(original[3] as Buffer), 'the rest untouched');
  t.ok(original[0]?.toString().startsWith('frame-0'), 'the sender’s buffer is not modified');
});

t.test('latency delays but keeps order; silence swallows everything', async (t) => {
  const faults = new FaultInjector();
  t.teardown(() => faults.dispose());
  faults.configure('toClient', { latencyMs: 60 });
  const out: Array<[string, number]> = [];
  const started = Date.now();
  faults.apply('toClient', Buffer.from('1'), (b) => out.push([b.toString(), Date.now() - started]));
  faults.configure('toClient', { latencyMs: 10 });
  faults.apply('toClient', Buffer.from('2'), (b) => out.push([b.toString(), Date.now() - started]));
  await sleep(120);
  t.same(out.map(([name]) => name), ['1', '2'], 'a shorter latency does not overtake');
  t.ok((out[0]?.[1] ?? 0) >= 55, 'delayed');
  faults.silence();
  faults.configure('toClient', { latencyMs: 0 });
  faults.apply('toClient', Buffer.from('3'), (b) => out.push([b.toString(), 0]));
  t.equal(out.length, 2, 'silenced');
  t.ok(faults.isSilenced);
  faults.unsilence();
  faults.apply('toClient', Buffer.from('4'), (b) => out.push([b.toString(), 0]));
  t.equal(out.at(-1)?.[0], '4');
});

t.test('closeClientAfter counts frames or bytes, optionally per direction', async (t) => {
  const faults = new FaultInjector();
  faults.closeClientAfter({ frames: 2, direction: 'toClient' });
  t.notOk(faults.shouldCloseClient('toAgent', 10));
  t.notOk(faults.shouldCloseClient('toClient', 10));
  t.ok(faults.shouldCloseClient('toClient', 10));
  t.notOk(faults.shouldCloseClient('toClient', 10), 'the rule fires once');
  faults.closeClientAfter({ bytes: 300 });
  t.notOk(faults.shouldCloseClient('toAgent', 200));
  t.ok(faults.shouldCloseClient('toClient', 200));
});

t.test('refuseResume lasts for the given time', async (t) => {
  const faults = new FaultInjector();
  t.equal(faults.activeResumeRefusal(), undefined);
  faults.refuseResume(50, { errorType: 'ThrottlingException', status: 400 });
  t.match(faults.activeResumeRefusal(), { errorType: 'ThrottlingException', status: 400 });
  await sleep(60);
  t.equal(faults.activeResumeRefusal(), undefined);
});
