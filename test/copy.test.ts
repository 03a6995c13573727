// download() and upload() against the simulator (whose targets see this machine's files):
// every byte value through several ranges and sessions, to an instance and to an ECS
// container, empty files, refused paths, an interrupted copy resumed, a range whose
// session dies, a source that changes under the copy. The commands sent are checked as
// the real agent reads them: split by the real google/shlex into sh -c and the script.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CopyError, download, upload, type AwsOptions, type Copy, type CopyResult } from '../src/client/index.ts';
import { base64LinesLength } from '../src/client/copy/output-parser.ts';
import { decodeFrame } from '../src/protocol/frame.ts';
import type { Simulator } from '../src/simulator/index.ts';
import { simulatorFor, TARGET } from './helpers/client-env.ts';
import { buildShlexDriver } from './helpers/go-shlex.ts';
import { waitFor } from './helpers/wait.ts';

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const TASK = '0123456789abcdef0123456789abcdef';
const RANGE = 8192;

/** Every byte value many times, plus encoded U+FFFD sequences and a dangling UTF-8 lead at the end. */
function binary(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 8)) % 256;
  for (let at = 100; at + 3 < size; at += 4099) data.set([0xef, 0xbf, 0xbd], at);
  if (size > 0) data[size - 1] = 0xe2;
  return data;
}

interface World {
  sim: Simulator;
  aws: AwsOptions;
  dir: string;
  ecsTarget: string;
}

/**
 * A simulator (pacing off unless asked) and a temporary directory. `slow`: the agent's
 * real pacing and its 1 s wait before a terminal's first output, so that each terminal
 * session lasts long enough to be interrupted or ended in the middle (command sessions'
 * output is neither paced nor delayed, as on the real agent).
 */
async function world(t: TestContext, slow = false): Promise<World> {
  const { sim, aws } = await simulatorFor(t, { pacing: slow, shellDelayMs: slow ? 1000 : 0, frameLogLimit: 0 });
  sim.ecs.addTask({ cluster: 'prod', taskId: TASK, containers: ['app'] });
  const dir = mkdtempSync(path.join(tmpdir(), 'copy-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { sim, aws: { ...aws, ecsEndpoint: sim.endpoint }, dir, ecsTarget: `ecs:prod_${TASK}_${sim.ecs.runtimeId('prod', TASK, 'app')}` };
}

/** The command parameter of every session started, in order: SSM StartSession and ECS ExecuteCommand. */
interface SentCommand {
  via: string;
  document: string | undefined;
  command: string;
  separate: string | undefined;
}

function commandsSent(sim: Simulator, from = 0): SentCommand[] {
  return sim.apiCalls.slice(from).flatMap((call): SentCommand[] => {
    const body = (call.body ?? {}) as Record<string, unknown>;
    if (call.operation === 'StartSession') {
      const parameters = (body.Parameters ?? {}) as Record<string, string[]>;
      return [{ via: 'StartSession', document: body.DocumentName as string, command: parameters.command?.[0] ?? '', separate: parameters.separateOutputStream?.[0] }];
    }
    if (call.operation === 'ExecuteCommand') return [{ via: 'ExecuteCommand', document: undefined, command: String(body.command), separate: undefined }];
    return [];
  });
}

/** The real shlex, built once for this file. */
let driver: ReturnType<typeof buildShlexDriver> | undefined;
t.teardown(() => {
  if (driver && !('missing' in driver)) driver.cleanup();
});

/** Checks that the real shlex splits each command into sh -c, the script, $0, the marker and `args[i]`. */
function checkSplit(t: TestContext, commands: readonly string[], args: ReadonlyArray<readonly string[]>): void {
  driver ??= buildShlexDriver();
  if ('missing' in driver) {
    t.fail(driver.missing);
    return;
  }
  for (const [i, result] of driver.split(commands).entries()) {
    t.equal(result.error, undefined, 'shlex: no error');
    t.same(result.words.slice(0, 2), ['sh', '-c'], 'shlex: sh -c');
    t.same(result.words.slice(3, 4), ['ssm-cp'], 'shlex: the script is one word');
    t.same(result.words.slice(5), args[i], 'shlex: the arguments as given');
  }
}

/** How ranges travel (`DATA RAW ...` or base64 `DATA`), as seen on the wire from the agent. */
function watchDataLines(sim: Simulator): () => string[] {
  const seen: string[] = [];
  const frames = new Set<string>();
  sim.observe((direction, bytes, sessionId) => {
    if (direction !== 'toClient') return;
    const frame = decodeFrame(bytes);
    if (frame.messageType !== 'output_stream_data' || frame.payloadType !== 1) return;
    // A frame the agent sends again (no acknowledgement in time) counts once.
    const key = `${sessionId}/${frame.sequenceNumber}`;
    if (frames.has(key)) return;
    frames.add(key);
    for (const match of frame.payload.toString('latin1').matchAll(/#SSMCP \S+ (DATA(?: RAW \d+ \d+)?)\r?\n/g)) seen.push(match[1] as string);
  });
  return () => seen;
}

async function expectCopyError(t: TestContext, copy: Copy, code: string, message: RegExp): Promise<void> {
  const err = await copy.done.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CopyError, 'a CopyError');
  t.match(err, { code, message }, `${code}: ${(err as Error | undefined)?.message}`);
}

t.test('instance: every byte value down and up through several ranges, each session one range', async (t) => {
  const { sim, aws, dir } = await world(t);
  const data = binary(7 * RANGE - 123);
  const remote = path.join(dir, "remote file's $name.bin");
  writeFileSync(remote, data, { mode: 0o640 });
  const local = path.join(dir, 'local');
  mkdirSync(local);

  const dataLines = watchDataLines(sim);
  const copy = download({ target: TARGET, aws, remotePath: remote, localPath: local, pool: 3, rangeSize: RANGE });
  const retries: string[] = [];
  copy.on('retry', (_range, error: Error) => retries.push(error.message));
  const down = await copy.done;
  t.same(
    dataLines().filter((line) => line !== 'DATA').sort(),
    Array.from({ length: 7 }, (_, i) => `DATA RAW ${Math.min(RANGE, data.length - i * RANGE)} 2`).sort(),
    'raw bytes through the command sessions, rotated past the EF BF BD sequences the agent would damage',
  );
  t.equal(dataLines().filter((line) => line === 'DATA').length, retries.length, `base64 only for a range tried again: ${retries.join('; ')}`);
  const copied = path.join(local, path.basename(remote));
  t.same(
    { ...down, elapsedMs: 0 },
    { path: copied, bytes: data.length, sha256: sha(data), bytesResumed: 0, sessionsStarted: 8 + retries.length, elapsedMs: 0 } satisfies CopyResult,
  );
  t.equal(sha(readFileSync(copied)), sha(data), 'the same bytes');
  t.equal(statSync(copied).mode & 0o777, 0o640 & ~process.umask(), "the source's mode");
  t.notOk(existsSync(path.join(local, `.${path.basename(remote)}.ssm-part`)), 'no partial file left');
  const sent = commandsSent(sim);
  t.same(
    sent.map((s) => [s.via, s.document, s.separate]),
    Array(8).fill(['StartSession', 'AWS-StartNonInteractiveCommand', 'true']),
    'a command session that checks the file, then one per range: non-interactive, separate stdout and stderr',
  );
  checkSplit(
    t,
    sent.map((s) => s.command),
    [[remote, '0', '0'], ...Array.from({ length: 7 }, (_, i) => [remote, String(i * 2), '2', String(Math.min(RANGE, data.length - i * RANGE)), 'raw'])],
  );

  const uploaded = path.join(dir, 'uploaded.bin');
  const before = sim.apiCalls.length;
  const up = await upload({ target: TARGET, aws, remotePath: uploaded, localPath: copied, pool: 3, rangeSize: RANGE }).done;
  t.same({ ...up, elapsedMs: 0 }, { path: uploaded, bytes: data.length, sha256: sha(data), bytesResumed: 0, sessionsStarted: 9, elapsedMs: 0 });
  t.equal(sha(readFileSync(uploaded)), sha(data), 'the same bytes on the target');
  t.notOk(existsSync(path.join(dir, '.uploaded.bin.ssm-part')), 'no partial file left on the target');
  const upSent = commandsSent(sim, before);
  t.same(
    upSent.map((s) => [s.document, s.separate]),
    [
      ['AWS-StartNonInteractiveCommand', 'true'],
      ...Array(7).fill(['AWS-StartInteractiveCommand', undefined]),
      ['AWS-StartNonInteractiveCommand', 'true'],
    ],
    'the destination checked by a command; each range typed into a terminal session; a command checks and renames',
  );
  const part = path.join(dir, '.uploaded.bin.ssm-part');
  checkSplit(
    t,
    upSent.map((s) => s.command),
    [
      [uploaded, String(data.length), path.basename(copied), '2', '7'],
      ...Array.from({ length: 7 }, (_, i) => [part, String(i * 2), '2', String(base64LinesLength(Math.min(RANGE, data.length - i * RANGE), 76))]),
      [part, uploaded, String(data.length), sha(data), '0640'],
    ],
  );
});

t.test('ECS container: both ways through ECS ExecuteCommand terminal sessions, no SSM StartSession', async (t) => {
  const { sim, aws, dir, ecsTarget } = await world(t);
  const data = binary(3 * RANGE + 5);
  const remote = path.join(dir, 'in-container.bin');
  writeFileSync(remote, data);
  const dataLines = watchDataLines(sim);
  const down = await download({ target: ecsTarget, aws, remotePath: remote, localPath: path.join(dir, 'down.bin'), rangeSize: RANGE }).done;
  t.equal(down.sha256, sha(data));
  t.same(
    dataLines().sort(),
    ['DATA RAW 5 0', `DATA RAW ${RANGE} 2`, `DATA RAW ${RANGE} 2`, `DATA RAW ${RANGE} 2`],
    'raw bytes through terminals made raw (stty raw: no CRLF), rotated where an EF BF BD would be damaged',
  );
  t.equal(sha(readFileSync(path.join(dir, 'down.bin'))), sha(data), 'the same bytes, through CRLF terminals');
  const up = await upload({ target: ecsTarget, aws, remotePath: path.join(dir, 'up.bin'), localPath: path.join(dir, 'down.bin'), rangeSize: RANGE }).done;
  t.equal(up.sha256, sha(data));
  t.equal(sha(readFileSync(path.join(dir, 'up.bin'))), sha(data), 'the same bytes in the container');
  const sent = commandsSent(sim);
  t.same(sent.map((s) => s.via), Array(1 + 4 + 1 + 4 + 1).fill('ExecuteCommand'), 'every session through ECS ExecuteCommand');
  t.ok(
    sim.apiCalls.filter((c) => c.operation === 'ExecuteCommand').every((c) => (c.body as { interactive?: boolean }).interactive === true),
    'interactive, the only mode ECS exec has',
  );
  checkSplit(t, sent.slice(0, 2).map((s) => s.command), [[remote, '0', '0'], [remote, '0', '2', String(RANGE), 'tty']]);
});

t.test('empty files both ways, instance and container', async (t) => {
  const { sim, aws, dir, ecsTarget } = await world(t);
  const empty = path.join(dir, 'empty');
  writeFileSync(empty, '');
  for (const target of [TARGET, ecsTarget]) {
    const before = commandsSent(sim).length;
    const down = await download({ target, aws, remotePath: empty, localPath: path.join(dir, 'empty-down') }).done;
    t.same([down.bytes, down.sha256, readFileSync(path.join(dir, 'empty-down')).length], [0, sha(Buffer.alloc(0)), 0], `${target}: downloaded`);
    const up = await upload({ target, aws, remotePath: path.join(dir, 'empty-up'), localPath: empty }).done;
    t.same([up.bytes, readFileSync(path.join(dir, 'empty-up')).length], [0, 0], `${target}: uploaded`);
    t.equal(commandsSent(sim).length - before, 1 + 2, 'one session down (the check), two up (prepare, commit), no ranges');
    rmSync(path.join(dir, 'empty-up'));
  }
});

t.test('refused paths: one clear error, nothing left behind, no range session', async (t) => {
  const { sim, aws, dir } = await world(t);
  const file = path.join(dir, 'file');
  writeFileSync(file, 'data');
  const local = path.join(dir, 'local');
  mkdirSync(local);
  const cases: Array<[string, Copy, string, RegExp]> = [
    ['missing source', download({ target: TARGET, aws, remotePath: path.join(dir, 'missing'), localPath: local }), 'not-found', /^i-0123456789abcdef0:.*\/missing: no such file or directory$/],
    ['source is a directory', download({ target: TARGET, aws, remotePath: dir, localPath: local }), 'is-directory', /: is a directory/],
    ['no such remote directory', upload({ target: TARGET, aws, remotePath: path.join(dir, 'no/such/x'), localPath: file }), 'not-found', /no such file or directory/],
    ['a directory that takes no files', upload({ target: TARGET, aws, remotePath: '/sys/', localPath: file }), 'permission-denied', /^i-0123456789abcdef0:\/sys\/: permission denied$/],
    ['local source missing', upload({ target: TARGET, aws, remotePath: dir, localPath: path.join(dir, 'nope') }), 'not-found', /nope: no such file or directory/],
    ['local source is a directory', upload({ target: TARGET, aws, remotePath: dir, localPath: local }), 'is-directory', /is a directory/],
  ];
  for (const [what, copy, code, message] of cases) {
    await t.test(what, async (t) => expectCopyError(t, copy, code, message));
  }
  t.same(readFileSync(file, 'utf8'), 'data');
  t.same(
    [...new Set(commandsSent(sim).map((s) => s.document))],
    ['AWS-StartNonInteractiveCommand'],
    'only the checking commands ran (no terminal session for a range)',
  );
  t.same(readdirSync(local), [], 'nothing in the local directory');
  t.notOk(existsSync('/sys/.file.ssm-part'));

  sim.instances.add({ id: 'i-0aaaaaaaaaaaaaaa1', platformType: 'Windows' });
  const before = commandsSent(sim).length;
  await expectCopyError(t, download({ target: 'i-0aaaaaaaaaaaaaaa1', aws, remotePath: 'C:/x', localPath: local }), 'unsupported-target', /^i-0aaaaaaaaaaaaaaa1 is a Windows target: cp works with Linux and macOS targets/);
  await expectCopyError(t, upload({ target: 'i-0aaaaaaaaaaaaaaa1', aws, remotePath: 'C:/x', localPath: file }), 'unsupported-target', /is a Windows target/);
  t.equal(commandsSent(sim).length, before, 'a Windows instance: refused both ways before any session');
});

/** Aborts `copy` once `ranges` ranges are done; resolves with its error. */
async function interruptAfter(copy: Copy, ranges: number, controller: AbortController): Promise<unknown> {
  await waitFor(() => copy.progress.rangesDone >= ranges, { what: `${ranges} ranges`, timeoutMs: 30_000 });
  controller.abort();
  return copy.done.then(
    () => undefined,
    (e: unknown) => e,
  );
}

t.test('an interrupted copy keeps its partial file; the next run carries only what is missing', async (t) => {
  const { sim, aws, dir, ecsTarget } = await world(t, true);
  const data = binary(8 * RANGE);
  const remote = path.join(dir, 'big.bin');
  writeFileSync(remote, data);
  const local = path.join(dir, 'big-copy.bin');
  const part = path.join(dir, '.big-copy.bin.ssm-part');

  const controller = new AbortController();
  // From a container (terminal sessions, each a second or more), into a local partial file.
  const first = download({ target: ecsTarget, aws, remotePath: remote, localPath: local, pool: 2, rangeSize: RANGE, signal: controller.signal });
  const err = await interruptAfter(first, 2, controller);
  t.match(err, { code: 'interrupted', message: /partial file .*\.big-copy\.bin\.ssm-part is kept: run the same command again to resume/ });
  t.notOk(existsSync(local), 'nothing under the final name');
  t.equal(statSync(part).size, data.length, 'the partial file stays, at full size');
  t.same([...sim.sessions.values()].filter((s) => s.status === 'active').length, 0, 'every session of the copy ended');

  const before = commandsSent(sim).length;
  const again = download({ target: ecsTarget, aws, remotePath: remote, localPath: local, pool: 4, rangeSize: RANGE });
  let resumed = 0;
  again.on('resumed', (bytes: number) => (resumed = bytes));
  const result = await again.done;
  t.ok(result.bytesResumed >= 2 * RANGE && result.bytesResumed === resumed, `resumed ${result.bytesResumed} bytes`);
  t.equal(sha(readFileSync(local)), sha(data), 'the whole file, checked');
  t.notOk(existsSync(part), 'the partial file is gone');
  t.equal(commandsSent(sim).length - before, 1 + (8 - result.bytesResumed / RANGE), 'one check, then only the missing ranges');

  // Uploads keep theirs on the target (an instance: a terminal session per range).
  const uploaded = path.join(dir, 'up.bin');
  const remotePart = path.join(dir, '.up.bin.ssm-part');
  const upController = new AbortController();
  const up = upload({ target: TARGET, aws, remotePath: uploaded, localPath: local, pool: 2, rangeSize: RANGE, signal: upController.signal });
  t.match(await interruptAfter(up, 2, upController), { code: 'interrupted', message: /kept on the target/ });
  t.notOk(existsSync(uploaded), 'nothing under the final name on the target');
  t.ok(existsSync(remotePart), 'the partial file stays on the target');
  const upAgain = await upload({ target: TARGET, aws, remotePath: uploaded, localPath: local, pool: 4, rangeSize: RANGE }).done;
  t.ok(upAgain.bytesResumed >= 2 * RANGE, `upload resumed ${upAgain.bytesResumed} bytes`);
  t.equal(sha(readFileSync(uploaded)), sha(data));
  t.notOk(existsSync(remotePart));
});

t.test('a range whose session dies is fetched again; the copy is whole', async (t) => {
  const { sim, aws, dir, ecsTarget } = await world(t, true);
  const data = binary(4 * RANGE);
  const remote = path.join(dir, 'src.bin');
  writeFileSync(remote, data);
  const copy = download({ target: ecsTarget, aws, remotePath: remote, localPath: path.join(dir, 'dst.bin'), pool: 2, rangeSize: RANGE });
  const retries: string[] = [];
  copy.on('retry', (_range, error: Error) => retries.push(error.message));
  const victim = await waitFor(
    () => [...sim.sessions.values()].find((s) => s.status === 'active' && /s DATA/.test(s.parameters.command?.[0] ?? '')),
    { what: 'a range session', timeoutMs: 15_000 },
  );
  sim.terminateSession(victim.sessionId);
  const result = await copy.done;
  t.equal(sha(readFileSync(path.join(dir, 'dst.bin'))), sha(data), 'every byte');
  t.equal(retries.length, 1, `one range tried again: ${retries.join('; ')}`);
  t.equal(result.sessionsStarted, 1 + 4 + 1, 'one more session than ranges + check');
});

t.test('a source that changes under the copy: the copy fails, and nothing is left on either end', async (t) => {
  const { sim, aws, dir, ecsTarget } = await world(t, true);
  const data = binary(4 * RANGE);
  const cases = [
    {
      what: 'a download whose source changes: verification fails, no partial file (it cannot be resumed)',
      start: (source: string, destination: string) => download({ target: ecsTarget, aws, remotePath: source, localPath: destination, pool: 1, rangeSize: RANGE }),
      change: (source: string) => writeFileSync(source, Buffer.alloc(data.length, 0x41)),
      code: 'verification-failed',
      message: /does not match the file on the target .*did it change during the copy\?/,
    },
    {
      // An instance: each range a terminal session of a second or more.
      what: 'an upload whose source shrinks: the partial file on the target is removed',
      start: (source: string, destination: string) => upload({ target: TARGET, aws, remotePath: destination, localPath: source, pool: 1, rangeSize: RANGE }),
      change: (source: string) => writeFileSync(source, data.subarray(0, RANGE + 10)),
      code: 'failed',
      message: /shrank during the copy$/,
    },
  ];
  for (const [i, c] of cases.entries()) {
    await t.test(c.what, async (t) => {
      const source = path.join(dir, `source-${i}.bin`);
      const destination = path.join(dir, `copy-${i}.bin`);
      const part = path.join(dir, `.copy-${i}.bin.ssm-part`);
      writeFileSync(source, data);
      // One range at a time: the first is carried before the change, the others after it.
      const copy = c.start(source, destination);
      await waitFor(() => copy.progress.rangesDone >= 1, { what: 'a range', timeoutMs: 30_000 });
      t.ok(existsSync(part), 'the partial file while the copy runs');
      c.change(source);
      await expectCopyError(t, copy, c.code, c.message);
      t.notOk(existsSync(destination), 'nothing under the final name');
      t.notOk(existsSync(part), 'and no partial file');
      t.same([...sim.sessions.values()].filter((s) => s.status === 'active').length, 0, 'every session of the copy ended');
    });
  }
  t.match(commandsSent(sim).at(-1)?.command, /rm -f -- "\$1"/, "the upload's last session removed its partial file");
});

t.test('a range whose session dies half-way: the next attempt fetches only the rest, and the whole range is checked', async (t) => {
  const { sim, aws, dir, ecsTarget } = await world(t, true);
  const MiB = 1024 * 1024;
  const data = binary(2 * MiB);
  const remote = path.join(dir, 'half.bin');
  writeFileSync(remote, data);
  const local = path.join(dir, 'half-copy.bin');
  const part = path.join(dir, '.half-copy.bin.ssm-part');

  for (const damage of [false, true]) {
    const before = commandsSent(sim).length;
    // One paced terminal session at a time, a second or more per MiB.
    const copy = download({ target: ecsTarget, aws, remotePath: remote, localPath: local, pool: 1, rangeSize: MiB, resume: false });
    const retries: string[] = [];
    copy.on('retry', (_range, error: Error) => {
      retries.push(error.message);
      // What the first attempt left is damaged before the next one: the whole range's hash must catch it.
      if (damage && retries.length === 1) writeFileSync(part, Buffer.from([data[0]! ^ 0xff]), { flag: 'r+' });
    });
    await waitFor(() => copy.progress.bytesDone >= 300 * 1024, { what: '300 KiB of the first range', timeoutMs: 30_000 });
    const victim = [...sim.sessions.values()].find((s) => s.status === 'active' && /s DATA/.test(s.parameters.command?.[0] ?? ''));
    t.ok(victim, 'the session carrying the first range');
    sim.terminateSession(victim!.sessionId);
    const result = await copy.done;
    t.equal(sha(readFileSync(local)), sha(data), `${damage ? 'damaged' : 'intact'}: every byte`);
    // The range commands' arguments after the path, as the agent's shlex reads them: first block, blocks, length, mode[, whole range].
    driver ??= buildShlexDriver();
    if ('missing' in driver) return void t.fail(driver.missing);
    const ranges = driver.split(commandsSent(sim, before).slice(1).map((s) => s.command)).map((r) => r.words.slice(6));
    const retry = ranges.find((args) => args[3] === 'base64');
    t.ok(retry && Number(retry[0]) >= 64 && Number(retry[0]) < 256 && Number(retry[2]) === MiB - Number(retry[0]) * 4096, `tried again from block ${retry?.[0]}: only the rest`);
    t.same(retry?.slice(3), ['base64', '0', '256'], 'in base64, with the whole range (blocks 0-255) to check');
    if (damage) {
      t.equal(retries.length, 2, `the damage found, the range fetched whole: ${retries.join('; ')}`);
      t.match(retries[1], /bytes 0-1048575 arrived damaged$/);
      t.same(ranges.at(-1), ['0', '256', String(MiB), 'base64'], 'the third attempt: the whole range');
    } else {
      t.same(retries.length, 1, `one range tried again, once: ${retries.join('; ')}`);
      t.equal(result.sessionsStarted, 1 + 2 + 1, 'the check, two ranges, one more attempt');
    }
    rmSync(local);
  }
});
