// Resilience end to end: the built plugin, started through the AWS CLI's environment-
// variable contract, moves data through the simulator while the simulated network drops,
// duplicates and reorders 5 % of the frames in both directions and the WebSocket is
// forcibly closed three times mid-transfer. The data must arrive byte-identical (SHA-256),
// the plugin must reconnect by itself (exactly one ResumeSession per forced close) and
// exit 0.
//
// Why the download is smaller than the upload: the simulated agent is faithful to the
// real one, which retransmits only its OLDEST unacknowledged frame, at most once per
// 100 ms tick (PROTOCOL.md §6.3; quirk Q2 on the agent side). Every agent frame that is
// lost, or whose ack is lost, costs about 100 ms of agent → client progress, one at a
// time. Measured with this setup at 5 % drop each way: 256 KiB down in 1.7 s, 1 MiB in
// 10-16 s, 2 MiB in 21 s (~100 KiB/s, ~100 agent resends per MiB), so 64 MiB would take
// over 10 minutes, and once more than 10 000 frames sit behind a hole the client's
// reorder buffer is full and it gets worse. Our client resends every overdue frame at
// once, so the upload direction has no such limit: 64 MiB go up at 5 % loss in ~15-20 s.
// Hence 64 MiB up and 512 KiB down, concurrently, both directions at 5 % loss,
// duplication and reordering. (A forced close has the same cost: the agent frames in
// flight die with the socket and come back one per 100 ms; an 8 MiB download with no
// loss but one close in the middle took 13-100 s instead of 0.4 s, depending on how many
// frames were in flight.)
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MessageType } from '../src/protocol/constants.ts';
import { decodeFrame } from '../src/protocol/frame.ts';
import type { Simulator } from '../src/simulator/index.ts';
import { apiCallsFor, describeRun, runTransfer, sdkStartSession, sha256, startPlugin, type TransferProgress } from './helpers/plugin-runs.ts';
import { portTransferSession, reconnectNotices, requireBinary, withSandbox, withSimulator } from './helpers/plugin-fixtures.ts';
import { printable, waitFor } from './helpers/wait.ts';

const MiB = 1024 * 1024;
const UPLOAD_BYTES = 64 * MiB;
const DOWNLOAD_BYTES = 512 * 1024;
const LOSSY = { dropRate: 0.05, duplicateRate: 0.05, reorderRate: 0.05 };

function lossyBothWays(sim: Simulator, seed: number): void {
  sim.faults.seed(seed);
  sim.faults.configure('toAgent', LOSSY);
  sim.faults.configure('toClient', LOSSY);
}

t.test('64 MiB port transfer (mux) survives 5 % loss/dup/reorder both ways and 3 forced closes', async (t) => {
  if (!requireBinary(t)) return;
  const { sim, server, response, run, localPort } = await portTransferSession(t, DOWNLOAD_BYTES);
  const id = response.SessionId;

  lossyBothWays(sim, 0x64);
  const upload = randomBytes(UPLOAD_BYTES);
  const progress: TransferProgress = { uploaded: 0, downloaded: 0 };
  const transfer = runTransfer(localPort, upload, DOWNLOAD_BYTES, progress);
  transfer.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile

  // Three forced closes at chosen points of the upload, each by a different means, each
  // only once the previous reconnect is complete. Points are measured at the
  // destination side of the relay (frames/bytes the gateway passed on).
  const session = sim.sessions.get(id)!;
  const resumes = () => apiCallsFor(sim, 'ResumeSession', id).length;
  const context = () =>
    `uploaded ${progress.uploaded} downloaded ${progress.downloaded} resumes ${resumes()}\n` +
    `--- stderr ---\n${printable(run.stderr().toString())}`;
  const until = <T>(what: string, condition: () => T | undefined | null | false, timeoutMs = 30_000) =>
    waitFor(condition, { what, timeoutMs, context, abort: () => (run.exited() ? 'the plugin exited' : undefined) });
  const closeAt: Array<{ uploaded: number; close: () => void; how: string }> = [
    { uploaded: 12 * MiB, how: 'closeClientAfter 200 frames to the agent', close: () => sim.faults.closeClientAfter({ frames: 200, direction: 'toAgent' }) },
    { uploaded: 30 * MiB, how: 'closeClientAfter 256 KiB either way', close: () => sim.faults.closeClientAfter({ bytes: 256 * 1024 }) },
    { uploaded: 48 * MiB, how: 'disconnectClient', close: () => sim.disconnectClient(id) },
  ];
  let attached = session.client?.id;
  for (const [index, point] of closeAt.entries()) {
    await until(`${point.uploaded / MiB} MiB uploaded`, () => progress.uploaded >= point.uploaded || progress.uploaded >= UPLOAD_BYTES);
    t.ok(progress.uploaded < UPLOAD_BYTES, `close ${index + 1} (${point.how}) happens mid-upload, at ${(progress.uploaded / MiB).toFixed(1)} MiB`);
    point.close();
    await until(`ResumeSession #${index + 1}`, () => resumes() >= index + 1);
    await until(`reconnect #${index + 1}`, () => session.client !== undefined && session.client.id !== attached && session.client);
    attached = session.client?.id;
  }

  const result = await transfer;
  t.equal(result.uploadDigestAtDestination, sha256(upload), `64 MiB upload arrived byte-identical (${(result.durationMs / 1000).toFixed(1)} s)`);
  t.equal(result.downloadLength, DOWNLOAD_BYTES, 'the whole download arrived');
  t.equal(result.downloadDigest, sha256(server.downloadBytes(DOWNLOAD_BYTES)), '512 KiB download arrived byte-identical');
  t.equal(server.connections, 1, 'one destination connection carried it all (the session was resumed, not restarted)');
  t.equal(resumes(), 3, 'exactly three ResumeSession calls');
  t.equal(session.connectionCount, 4, 'four WebSocket connections in all');
  t.ok(session.agent.channel.stats.resends > 0, `the agent had to retransmit (${session.agent.channel.stats.resends} resends)`);

  // The faults stay on while the plugin ends the session: SIGTERM → TerminateSession flag.
  run.child.kill('SIGTERM');
  const exit = await run.result;
  t.notOk(exit.timedOut, 'the plugin ends by itself', { run: describeRun(exit) });
  t.equal(exit.code, 0, 'plugin exit status 0', { run: describeRun(exit) });
  const notices = reconnectNotices(exit.stderr.toString());
  t.equal(notices.lost, 3, 'three "re-establishing" notices');
  t.equal(notices.back, 3, 'three "re-established" notices');
  t.match(exit.stdout.toString(), new RegExp(`Exiting session with sessionId: ${id}\\.`), 'the exit message');
});

t.test('a scripted shell survives 5 % loss/dup/reorder both ways and 3 forced closes', async (t) => {
  if (!requireBinary(t)) return;
  const cwd = mkdtempSync(path.join(tmpdir(), 'smp-shell-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const sim = await withSimulator(t, { frameLogLimit: 0, shellDelayMs: 50, shellCwd: cwd });
  const sandbox = withSandbox(t);
  const upBytes = randomBytes(48 * 1024);
  const downBytes = randomBytes(96 * 1024);
  writeFileSync(path.join(cwd, 'down.bin'), downBytes);
  const response = await sdkStartSession(sim);
  const id = response.SessionId;
  const session = sim.sessions.get(id)!;

  // Three closes at chosen points: one while the upload (the heredoc) is crossing, two
  // while the download (base64 of down.bin) streams back. Counted in the gateway's
  // relay, per connection; a point reached while reconnecting fires on the next frame.
  const closeAfter: Array<{ direction: 'toAgent' | 'toClient'; frames: number }> = [
    { direction: 'toAgent', frames: 25 },
    { direction: 'toClient', frames: 60 },
    { direction: 'toClient', frames: 60 },
  ];
  const closedAt: string[] = [];
  let counting: { attachment: number; frames: number } | undefined;
  let downloadStarted = false;
  const stopObserving = sim.observe((direction, bytes, sessionId) => {
    if (sessionId !== id || closedAt.length >= closeAfter.length) return;
    const attachment = session.client?.id;
    if (attachment === undefined) return;
    let frame;
    try {
      frame = decodeFrame(bytes, { verifyDigest: false });
    } catch {
      return;
    }
    const isData = frame.messageType === MessageType.InputStreamData || frame.messageType === MessageType.OutputStreamData;
    if (!isData) return;
    if (direction === 'toClient' && frame.payload.includes('BEGIN-42')) downloadStarted = true;
    const next = closeAfter[closedAt.length]!;
    if (direction !== next.direction || (direction === 'toClient' && !downloadStarted)) return;
    if (counting?.attachment !== attachment) counting = { attachment, frames: 0 };
    if (++counting.frames < next.frames) return;
    closedAt.push(`${direction} frame ${counting.frames} of connection ${attachment}`);
    counting = undefined;
    sim.disconnectClient(id);
  });
  t.teardown(stopObserving);
  lossyBothWays(sim, 0x5e11);

  const lines = upBytes.toString('base64').match(/.{1,76}/g)!;
  const script =
    `base64 -d > up.bin <<'EOF'\n${lines.join('\n')}\nEOF\n` +
    `sha256sum up.bin | sed 's/^/UP-/'\n` +
    // One line, so no later input can be echoed into the download; then wait for the test.
    `echo "BEGIN-$((40+2))"; base64 -w 76 down.bin; echo "END-$((40+2))"; until [ -e release ]; do sleep 0.05; done; exit\n`;
  // stdin stays open: the session ends with `exit`, not with EOF.
  const run = startPlugin(sim, sandbox, response, { timeoutMs: 85_000 });
  t.teardown(() => run.kill());
  run.child.stdin.write(script);
  const resumes = () => apiCallsFor(sim, 'ResumeSession', id).length;
  const until = <T>(what: string, condition: () => T | undefined | null | false, timeoutMs = 60_000) =>
    waitFor(condition, {
      what,
      timeoutMs,
      context: () =>
        `closes: ${JSON.stringify(closedAt)} resumes ${resumes()}\n${printable(run.stdout().toString('latin1'), 1500)}` +
        `\n--- stderr ---\n${printable(run.stderr().toString())}`,
      abort: () => (run.exited() ? 'the plugin exited' : undefined),
    });
  await until('the end of the download', () => /END-42\r?\n/.test(run.stdout().toString('latin1')));
  await until('three reconnects', () => resumes() >= 3 && session.client !== undefined);
  writeFileSync(path.join(cwd, 'release'), '');
  const exit = await run.result;
  t.notOk(exit.timedOut, 'the session ends by itself', { run: describeRun(exit) });
  t.equal(exit.code, 0, 'plugin exit status 0', { run: describeRun(exit) });
  t.same(closedAt.length, 3, `three forced closes: ${closedAt.join('; ')}`);
  t.equal(resumes(), 3, 'exactly three ResumeSession calls');

  const stdout = exit.stdout.toString('latin1');
  t.equal(readFileSync(path.join(cwd, 'up.bin')).equals(upBytes), true, '48 KiB upload arrived byte-identical (file)');
  t.match(stdout, new RegExp(`UP-${sha256(upBytes)}  up\\.bin`), 'and the remote sha256sum says so');
  const body = /BEGIN-42\r?\n([\s\S]*?)END-42/.exec(stdout)?.[1] ?? '';
  const received = Buffer.from(body.replace(/\r?\n/g, ''), 'base64');
  t.equal(sha256(received), sha256(downBytes), `96 KiB download arrived byte-identical (${received.length} bytes)`);
  t.ok(/^[A-Za-z0-9+/=\r\n]*$/.test(body), 'nothing but base64 lines between the markers (no duplicated or stray output)');
  t.ok(stdout.endsWith(`\n\nExiting session with sessionId: ${id}.\n\n`), 'the exit message last');
  const notices = reconnectNotices(exit.stderr.toString());
  t.equal(notices.lost, 3, 'three "re-establishing" notices');
  t.equal(notices.back, 3, 'three "re-established" notices');
});
