// startSession() against the simulator: a non-interactive command with stdout and stderr
// separated and its exit code; a KMS-encrypted command (data key from the simulator's
// KMS); state events and stats; terminate() of a running command.
import t from 'tap';
import { Readable, Writable } from 'node:stream';
import { remoteCommand, startSession, ClientError, type SessionIO, type SessionNotice, type SessionState } from '../src/client/index.ts';
import { simulatorFor, TARGET } from './helpers/client-env.ts';

/** Session IO whose output is collected and whose stdin never sends anything. */
function captureIO(): { io: SessionIO; stdout: () => string; stderr: () => string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        into.push(Buffer.from(chunk));
        done();
      },
    });
  return {
    io: { stdin: new Readable({ read() {} }), stdout: sink(out), stderr: sink(err) },
    stdout: () => Buffer.concat(out).toString(),
    stderr: () => Buffer.concat(err).toString(),
  };
}

/** The agent executes a command's words without a shell (shell_unix.go): wrap it in `sh -c`. */
const command = (text: string) => ({
  documentName: 'AWS-StartNonInteractiveCommand',
  parameters: { command: [remoteCommand(text, 'Linux')], separateOutputStream: ['true'] },
});

t.test('a command: stdout and stderr apart, the exit code in the outcome, state events', async (t) => {
  const { aws } = await simulatorFor(t, { pacing: false, shellDelayMs: 0 });
  const capture = captureIO();
  const session = await startSession({ target: TARGET, aws, io: capture.io, ...command('echo to-out; echo to-err >&2; exit 3') });
  const states: SessionState[] = [];
  session.on('state', (state: SessionState) => states.push(state));
  const closed = new Promise((resolve) => session.once('closed', resolve));
  t.match(session.sessionId, /\S/);
  t.equal(session.target, TARGET);
  const outcome = await session.done;
  t.same(await closed, outcome, "'closed' carries the outcome");
  t.match(outcome, { status: 'closed', exitCode: 3 });
  t.match(capture.stdout(), /to-out/);
  t.notMatch(capture.stdout(), /to-err|EXIT_CODE/, 'stdout has neither stderr nor the exit code text');
  t.match(capture.stderr(), /to-err/);
  t.same(states.slice(-1), ['closed']);
  t.ok(states.includes('connected'), `connected on the way (${states.join(', ')})`);
  t.ok(session.stats.bytesIn > 0 && session.stats.bytesOut > 0, 'bytes counted');
  t.match(session.agentVersion, /^\d+\./);
});

t.test('a KMS-encrypted command', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: false, shellDelayMs: 0, kmsKeyId: 'alias/session-key' });
  const previous = process.env.AWS_ENDPOINT_URL_KMS;
  process.env.AWS_ENDPOINT_URL_KMS = sim.endpoint;
  t.teardown(() => {
    if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_KMS;
    else process.env.AWS_ENDPOINT_URL_KMS = previous;
  });
  const capture = captureIO();
  const session = await startSession({ target: TARGET, aws, io: capture.io, ...command('printf secret-%s data') });
  const notices: SessionNotice[] = [];
  session.on('notice', (notice: SessionNotice) => notices.push(notice));
  const outcome = await session.done;
  t.match(outcome, { status: 'closed', exitCode: 0 });
  t.match(capture.stdout(), /secret-data/);
  t.same(notices, [{ kind: 'customer-message', text: 'This session is encrypted using AWS KMS.' }], "the agent's customer message is an event");
  t.notMatch(`${capture.stdout()}${capture.stderr()}`, /encrypted using AWS KMS/, 'and the library printed nothing of it');
  t.ok(sim.apiCalls.some((call) => call.service === 'kms' && call.operation === 'GenerateDataKey'), 'a data key from KMS');
});

t.test('terminate() ends a running command and calls TerminateSession', async (t) => {
  const { sim, aws } = await simulatorFor(t, { pacing: false, shellDelayMs: 0 });
  const capture = captureIO();
  const session = await startSession({ target: TARGET, aws, io: capture.io, ...command('echo started; sleep 30') });
  await new Promise<void>((resolve) => session.on('state', (state: SessionState) => state === 'connected' && resolve()));
  await session.terminate();
  t.match(await session.done, { status: 'ended' });
  t.equal(session.state, 'closed');
  t.ok(sim.apiCalls.some((call) => call.operation === 'TerminateSession' && JSON.stringify(call.body).includes(session.sessionId)));
});

t.test('StartSession refused: a ClientError with the service reason', async (t) => {
  const { aws } = await simulatorFor(t, { pacing: false, shellDelayMs: 0 });
  const err = await startSession({ target: 'not-a-target', aws, io: captureIO().io }).catch((e: unknown) => e);
  t.ok(err instanceof ClientError);
  t.match(err, { code: 'start-failed', message: /InvalidTarget/ });
});
