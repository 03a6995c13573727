// flushed(): waiting until a writable's queued output is out, so the CLIs can exit without
// losing the tail of it. The real case is a child process that writes megabytes into a
// pipe whose reader has not read them yet, then exits: the reader must get every byte.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { flushed } from '../src/util/flushed.ts';

const FLUSHED_MODULE = pathToFileURL(path.join(import.meta.dirname, '..', 'src', 'util', 'flushed.ts')).href;
const MiB = 1024 * 1024;

/** Turns of the event loop: enough for anything already possible to have happened. */
async function turns(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A writable whose writes complete only when the test says so. */
function heldWritable() {
  const pending: Array<() => void> = [];
  const received: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _encoding, callback) {
      pending.push(() => {
        received.push(chunk);
        callback();
      });
    },
  });
  return { stream, received, completeOne: () => pending.shift()?.(), pendingCount: () => pending.length };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A child that writes `bytes` seeded bytes to stdout (a pipe to us, which we do not read
 * yet), says `exiting` on stderr and calls process.exit(3), after flushed() or not.
 */
function writerChild(bytes: number, waitForFlush: boolean) {
  const script = `
    import { createHash } from 'node:crypto';
    import { flushed } from ${JSON.stringify(FLUSHED_MODULE)};
    const data = Buffer.alloc(${bytes});
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    process.stdout.write(data);
    process.stderr.write('queued ' + process.stdout.writableLength + ' sha ' + createHash('sha256').update(data).digest('hex') + '\\n');
    ${waitForFlush ? 'await flushed(process.stdout);' : ''}
    process.stderr.write('exiting\\n');
    process.exit(3);
  `;
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pause();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  /** Resolves when the child's stderr has a line starting with `word` (rejects if it closes first). */
  const said = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const look = () => {
        if (new RegExp(`^${word}\\b.*\n`, 'm').test(stderr)) resolve();
        else if (child.stderr.readableEnded) reject(new Error(`no "${word}" from the child; stderr: ${stderr}`));
        else child.stderr.once('data', look).once('end', look);
      };
      look();
    });
  const readAll = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of child.stdout) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const expected = () => {
    const match = /^queued (\d+) sha ([0-9a-f]{64})$/m.exec(stderr);
    return { queued: Number(match?.[1]), sha: match?.[2] };
  };
  return { child, exit, said, readAll, expected, stderr: () => stderr };
}

t.test('a child exiting right after flushed(): its reader gets every byte, read only afterwards', async (t) => {
  const bytes = 4 * MiB;
  const writer = writerChild(bytes, true);
  t.teardown(() => writer.child.kill());
  // Until the child has written everything and waits, we read nothing: megabytes stay queued in it.
  await writer.said('queued');
  t.ok(writer.expected().queued > 0, 'the child had output queued for the pipe', { stderr: writer.stderr() });
  const output = await writer.readAll();
  t.equal(await writer.exit, 3, 'the exit status is unchanged');
  t.equal(output.length, bytes, 'every byte arrived');
  t.equal(sha256(output), writer.expected().sha, 'the bytes are the ones written (SHA-256)');
  t.match(writer.stderr(), /\nexiting\n$/, 'no error, no stack trace');
});

t.test('without it, process.exit drops what is queued (what the CLIs did)', { skip: process.platform === 'win32' && 'pipes are synchronous on Windows' }, async (t) => {
  const bytes = 4 * MiB;
  const writer = writerChild(bytes, false);
  t.teardown(() => writer.child.kill());
  await writer.said('exiting');
  const output = await writer.readAll();
  t.equal(await writer.exit, 3);
  t.ok(output.length < bytes, `the tail is lost: ${output.length} of ${bytes} bytes arrived`);
});

t.test('a reader that goes away while output is queued: flushed() resolves, no crash', async (t) => {
  const writer = writerChild(4 * MiB, true);
  t.teardown(() => writer.child.kill());
  await writer.said('queued');
  writer.child.stdout.destroy(); // EPIPE for the child's queued writes
  t.equal(await writer.exit, 3, 'the child exits with its status');
  t.match(writer.stderr(), /\nexiting\n$/, 'after flushed() resolved, with no error or stack trace');
});

t.test('resolves only once the last queued write has completed', async (t) => {
  const sink = heldWritable();
  for (const text of ['one', 'two', 'three']) sink.stream.write(Buffer.from(text));
  let settled = false;
  const done = flushed(sink.stream).then(() => (settled = true));
  for (let i = 0; i < 3; i++) {
    await turns();
    t.notOk(settled, `not while ${3 - i} write(s) are pending`);
    t.ok(sink.pendingCount() > 0, 'a write is waiting for the sink');
    sink.completeOne();
  }
  // The empty write queued behind the three is flushed()'s own.
  await turns();
  t.notOk(settled, 'not while its own empty write is pending');
  t.equal(sink.pendingCount(), 1, 'which is the last one');
  sink.completeOne();
  await done;
  t.equal(Buffer.concat(sink.received).toString(), 'onetwothree', 'all of it went out, in order');
  t.equal(sink.stream.writableLength, 0, 'nothing is queued');
});

t.test('nothing queued, or a stream that can take nothing more: resolves at once', async (t) => {
  const idle = heldWritable();
  let settled = false;
  void flushed(idle.stream).then(() => (settled = true));
  await Promise.resolve();
  await Promise.resolve();
  t.ok(settled, 'an idle stream: at once');
  t.equal(idle.pendingCount(), 0, 'without writing anything');

  const destroyed = heldWritable();
  destroyed.stream.write(Buffer.from('never'));
  destroyed.stream.destroy(new Error('reader gone'));
  await flushed(destroyed.stream);
  t.pass('a destroyed stream with a queued write: resolved');
  await new Promise((resolve) => destroyed.stream.once('close', resolve));
  t.pass('its error was taken, not thrown');

  const failing = heldWritable();
  failing.stream.write(Buffer.from('a'));
  failing.stream.write(Buffer.from('b'));
  const waiting = flushed(failing.stream);
  failing.stream.destroy(new Error('EPIPE'));
  await waiting;
  t.pass('a stream failing while flushed() waits: resolved');

  const ended = heldWritable();
  ended.stream.end(Buffer.from('last'));
  let endedSettled = false;
  const endedDone = flushed(ended.stream).then(() => (endedSettled = true));
  await turns();
  t.notOk(endedSettled, 'an ended stream with its last write pending: waits');
  ended.completeOne();
  await endedDone;
  t.equal(Buffer.concat(ended.received).toString(), 'last', 'until that write is out');
});
