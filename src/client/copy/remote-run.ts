import { PassThrough, Writable } from 'node:stream';
import { describeOutcome, startSession, type Session, type SessionRunOptions } from '../session.ts';
import { CopyError, remoteError } from './errors.ts';
import { OutputParser, type ProtocolLine } from './output-parser.ts';

/** Where a copy runs its commands. */
export interface CopyEndpoint {
  /** What StartSession takes: i-…, mi-…, or ecs:CLUSTER_TASK_RUNTIMEID. */
  target: string;
  /** Session options: AWS settings, logger. */
  run: SessionRunOptions;
}

export interface RemoteRun {
  command: string;
  marker: string;
  /** Who the messages are about, e.g. `i-0123…:/var/log/app.log`. */
  where: string;
  /** The last protocol line of a successful run (END, OK, SUM). */
  finalKind: string;
  /** Called with the terminal input once the script says READY (upload ranges); needs a terminal session. */
  input?: (stdin: PassThrough) => Promise<void>;
  onLine?: (line: ProtocolLine) => void;
  /** Decoded file data; may return a promise, which holds the output until it settles. */
  onData?: (chunk: Buffer) => void | Promise<void>;
  /** Ends the session when aborted. */
  signal?: AbortSignal;
  /** The session, once started (for statistics). */
  onSession?: (session: Session) => void;
}

const COMMAND_DOCUMENT = 'AWS-StartNonInteractiveCommand';
const TERMINAL_COMMAND_DOCUMENT = 'AWS-StartInteractiveCommand';
/** Bytes of the command's stderr kept for error messages. */
const STDERR_LIMIT = 4096;

/**
 * Runs one target-side script in a session of its own and reads its protocol lines.
 *
 * Instances: AWS-StartNonInteractiveCommand with separate output streams (stdout is the
 * protocol, stderr goes to error messages, the exit code is checked), or
 * AWS-StartInteractiveCommand when the script reads input (a non-interactive session
 * discards all input but Ctrl-C). ECS containers: only terminal sessions exist (ECS
 * ExecuteCommand), so both kinds run there in a terminal, whose output merges stderr
 * and ends lines with CRLF; the protocol lines tell success from failure.
 *
 * Resolves with every protocol line once `finalKind` came and the session ended;
 * throws a CopyError otherwise (`retryable` for failures of the session itself).
 */
export async function runRemote(endpoint: CopyEndpoint, run: RemoteRun): Promise<ProtocolLine[]> {
  if (run.signal?.aborted) throw interrupted();
  const lines: ProtocolLine[] = [];
  let stderrText = '';
  let ready: (() => void) | undefined;
  const readySeen = new Promise<void>((resolve) => (ready = resolve));
  let pending: Promise<void> = Promise.resolve();
  let dataError: unknown;
  let session: Session | undefined;
  const parser = new OutputParser(run.marker, {
    line: (line) => {
      lines.push(line);
      if (line.kind === 'READY') ready?.();
      run.onLine?.(line);
    },
    data: (chunk) => {
      if (dataError !== undefined) return;
      // A sink that fails (disk full) ends the session; the error is thrown below.
      const fail = (err: unknown): void => {
        dataError ??= err;
        void session?.terminate();
      };
      try {
        const result = run.onData?.(chunk);
        if (result) {
          const handled = result.catch(fail);
          pending = pending.then(() => handled);
        }
      } catch (err) {
        fail(err);
      }
    },
  });
  const stdin = new PassThrough();
  const stdout = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      parser.write(chunk);
      const settled = pending;
      pending = Promise.resolve();
      settled.then(() => callback(), callback);
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (stderrText.length < STDERR_LIMIT) stderrText += chunk.toString('utf8');
      callback();
    },
  });

  const ecs = endpoint.target.startsWith('ecs:');
  const terminal = ecs || run.input !== undefined;
  try {
    session = await startSession({
      ...endpoint.run,
      target: endpoint.target,
      documentName: terminal ? TERMINAL_COMMAND_DOCUMENT : COMMAND_DOCUMENT,
      parameters: terminal ? { command: [run.command] } : { command: [run.command], separateOutputStream: ['true'] },
      io: { stdin, stdout: Object.assign(stdout, { isTTY: false }), stderr },
    });
  } catch (err) {
    // Refusals (no such target, access denied) do not go away; the SDK has already retried throttling.
    throw new CopyError('failed', `${run.where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  run.onSession?.(session);
  const started = session;
  const abort = (): void => void started.terminate();
  run.signal?.addEventListener('abort', abort, { once: true });
  let feeding: Promise<void> | undefined;
  if (run.input) {
    const input = run.input;
    feeding = Promise.race([readySeen, session.done]).then(() => (lines.some((l) => l.kind === 'READY') ? input(stdin) : undefined));
    // A feed that fails (a local read error) ends the session.
    feeding.catch((err: unknown) => {
      if (!stdin.destroyed) dataError ??= err;
      void started.terminate();
    });
  }
  try {
    const outcome = await session.done;
    stdin.destroy(); // a feed still waiting for room gives up
    await feeding?.catch(() => undefined);
    await new Promise<void>((resolve) => stdout.end(resolve));
    await pending;
    parser.end();
    if (run.signal?.aborted) throw interrupted();
    if (dataError !== undefined) throw dataError;
    const failed = lines.find((line) => line.kind === 'ERR');
    if (failed) throw remoteError(run.where, failed.fields);
    if (parser.error) throw new CopyError('failed', `${run.where}: ${parser.error} (the session ${describeOutcome(outcome)})`, { retryable: true });
    if (lines.some((line) => line.kind === run.finalKind) && (outcome.status !== 'closed' || !outcome.exitCode)) return lines;
    throw unfinished(run.where, outcome, lines.length > 0, `${stderrText}\n${parser.noise}`.trim());
  } finally {
    run.signal?.removeEventListener('abort', abort);
  }
}

/** Writes terminal input, waiting for room; rejects once the session has ended. */
export async function writeInput(stdin: PassThrough, text: string): Promise<void> {
  if (stdin.destroyed) throw new CopyError('failed', 'the session ended', { retryable: true });
  if (stdin.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stdin.off('drain', done);
      stdin.off('close', closed);
      resolve();
    };
    const closed = (): void => {
      stdin.off('drain', done);
      reject(new CopyError('failed', 'the session ended', { retryable: true }));
    };
    stdin.once('drain', done);
    stdin.once('close', closed);
  });
}

function interrupted(): CopyError {
  return new CopyError('interrupted', 'the copy was interrupted');
}

/** The script did not get to its last line: why, as far as can be told. */
function unfinished(where: string, outcome: Awaited<Session['done']>, started: boolean, output: string): CopyError {
  const text = output.replace(/\s+/g, ' ').slice(0, 300);
  if (!started && /not found|no such file|executable file/i.test(text)) {
    return new CopyError('unsupported-target', `${where}: the target cannot run sh (cp needs a Linux or macOS target with a POSIX shell): ${text}`);
  }
  const how = outcome.status === 'closed' && outcome.exitCode !== undefined ? `exit status ${outcome.exitCode}` : describeOutcome(outcome);
  // A container without sh: the agent's terminal start failure reaches nobody.
  const said = !started && !text ? 'nothing ran (does the target have sh?)' : text;
  // A session ended from outside (TerminateSession, a lost connection) or a script that
  // died: another session may do better; what cannot work fails again, soon.
  return new CopyError('failed', `${where}: the copy command on the target ended early (${how})${said ? `: ${said}` : ''}`, { retryable: true });
}
