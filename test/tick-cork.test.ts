import t from 'tap';
import { Writable } from 'node:stream';
import { corkAfterFirstWrite } from '../src/util/tick-cork.ts';

/** A sink that records each write it is handed: single writes and writev batches. */
function recordingSink() {
  const calls: string[][] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk.toString()]);
      callback();
    },
    writev(chunks, callback) {
      calls.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      callback();
    },
  });
  return { sink, calls };
}

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

t.test('the first write of a tick reaches the sink before the call returns', async (t) => {
  const { sink, calls } = recordingSink();
  corkAfterFirstWrite(sink);
  sink.write('key');
  t.same(calls, [['key']], 'a keystroke is not held for the rest of the tick');
});

t.test('writes after the first in one tick leave together at the end of the tick', async (t) => {
  const { sink, calls } = recordingSink();
  for (const part of ['a', 'b', 'c', 'd']) {
    corkAfterFirstWrite(sink);
    sink.write(part);
  }
  t.same(calls, [['a']], 'only the first one has left');
  await nextTick();
  t.same(calls, [['a'], ['b', 'c', 'd']], 'the rest in one writev');
  corkAfterFirstWrite(sink);
  sink.write('e');
  t.same(calls, [['a'], ['b', 'c', 'd'], ['e']], 'the next tick starts uncorked again');
});
