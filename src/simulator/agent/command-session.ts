import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, openSync, closeSync, rmSync, type ReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { PayloadType, STREAM_CHUNK_SIZE } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import type { AgentChannel, InputVerdict } from './agent-channel.ts';
import { resolveProgram, startErrorText, type Executor } from './command-exec.ts';
import { OutputPump } from './output-pump.ts';
import type { PluginContext, PluginResult, SessionPlugin } from './session-plugin.ts';
import { ERROR_TO_CHANNEL_DELAY_MS, pause } from './start-failure.ts';

/**
 * Input bytes a NonInteractiveCommands session turns into signals; all others are
 * discarded (agent/appconfig/constants.go, ByteControlSignalsLinux). Only the first
 * control byte of a payload counts.
 */
const SIGNAL_BYTES: ReadonlyMap<number, NodeJS.Signals> = new Map([
  [0x03, 'SIGINT'],
  [0x1c, 'SIGQUIT'],
]);
/** After a start failure the agent sends the StdErr text about a second later (§11.5). */
export const START_FAILURE_STDERR_DELAY_MS = ERROR_TO_CHANNEL_DELAY_MS;
const KILL_GRACE_MS = 1000;
/** The exit code the agent reports when cmd.Wait fails without an ExitError (appconfig.ErrorExitCode). */
const ERROR_EXIT_CODE = 1;

export interface NonInteractiveOptions {
  executor: Executor;
  separateOutputStream: boolean;
  stdOutSeparatorPrefix: string;
  stdErrSeparatorPrefix: string;
}

/**
 * NonInteractiveCommands on the agent (agent/session/shell/shell.go, shell_unix.go;
 * PROTOCOL.md §7.2, §11.5): the command's words are executed directly (no shell, no pty,
 * stdin /dev/null).
 *
 * - Without separate streams, stdout and stderr go to one file, which is streamed as
 *   PayloadType 1 once the process has exited (no initial delay: writePump(…, 0)).
 * - With separate streams, two pipe readers stream stdout as PayloadType 1 and stderr as
 *   PayloadType 11, reading at most 1024 bytes minus the prefix length, with no pacing;
 *   then one PayloadType 12 `EXIT_CODE: <n>`. A reader that finds publication paused
 *   gives up for good (the session then ends as failed, and the process may block on a
 *   full pipe), and the exit code is only sent if publication is not paused then.
 * - A start failure: `EXIT_CODE: 1` (separate streams only), then about 1 s later the
 *   error as StdErr (PayloadType 11) in both modes.
 * - Input: the first 0x03 or 0x1c of a payload signals the process (SIGINT, SIGQUIT),
 *   and the agent's input handler then waits for the process to exit: no input is
 *   processed meanwhile, and its Wait takes the exit status, so the session reports
 *   `EXIT_CODE: 1` and output still in the pipes is lost. Everything else is discarded.
 */
export class NonInteractiveCommandSession implements SessionPlugin {
  private readonly context: PluginContext;
  private readonly options: NonInteractiveOptions;
  private child: ChildProcess | undefined;
  private exited = false;
  private stopped = false;
  private readonly pumps: OutputPump[] = [];
  private readonly stopController = new AbortController();
  private killTimer: NodeJS.Timeout | undefined;
  /** Set while the input handler waits for the signalled process (the frame it holds). */
  private signalWait: { sequenceNumber: number } | undefined;
  /** The input handler's Wait took the exit status (after a signal byte). */
  private waitedByInput = false;
  /** Signals sent because of client input, in order (for tests). */
  readonly signalsSent: NodeJS.Signals[] = [];

  constructor(context: PluginContext, options: NonInteractiveOptions) {
    this.context = context;
    this.options = options;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async run(): Promise<PluginResult> {
    const workDir = this.options.separateOutputStream ? undefined : mkdtempSync(path.join(tmpdir(), 'sim-cmd-'));
    try {
      return this.options.separateOutputStream ? await this.runSeparate() : await this.runCombined(workDir as string);
    } finally {
      if (this.killTimer) clearTimeout(this.killTimer);
      if (workDir) rmSync(workDir, { recursive: true, force: true });
      if (this.signalWait) this.context.channel.releaseInput();
    }
  }

  handleInput(frame: Frame): InputVerdict {
    if (frame.payloadType !== PayloadType.Output) return 'accepted'; // Size, flags: ignored
    if (this.signalWait?.sequenceNumber === frame.sequenceNumber) {
      // The handler's Wait has returned: the frame is acked now.
      this.signalWait = undefined;
      return 'accepted';
    }
    let signal: NodeJS.Signals | undefined;
    for (const byte of frame.payload) {
      signal = SIGNAL_BYTES.get(byte);
      if (signal) break;
    }
    if (!signal) return 'accepted';
    const child = this.child;
    // Signalling a process that is gone fails, and the frame is not acked.
    if (!child || this.exited) return 'not-ready';
    this.signalsSent.push(signal);
    child.kill(signal);
    this.signalWait = { sequenceNumber: frame.sequenceNumber };
    this.waitedByInput = true;
    this.context.channel.holdInput(); // the read loop is blocked in Wait until the process exits
    return 'not-ready';
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopController.abort();
    for (const pump of this.pumps) pump.abort();
    const child = this.child;
    if (!child || this.exited || child.pid === undefined) return;
    killGroup(child.pid, 'SIGTERM');
    this.killTimer = setTimeout(() => {
      if (!this.exited && child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }, KILL_GRACE_MS);
  }

  /** stdout+stderr to one file; streamed after the process has exited. */
  private async runCombined(workDir: string): Promise<PluginResult> {
    const file = path.join(workDir, 'output');
    const fd = openSync(file, 'w');
    let started: Started;
    try {
      started = await this.start(['ignore', fd, fd]);
    } finally {
      closeSync(fd);
    }
    if (started.error !== undefined) return this.startFailed(started.error);
    await started.exit;
    this.releaseSignalWait();
    if (this.stopped) return { status: 'success', output: '', terminating: true };
    const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
    const pump = this.newPump(PayloadType.Output, { prefix: '', separate: false });
    this.feed(pump, stream);
    await pump.run();
    stream.destroy();
    return { status: 'success', output: '', terminating: true };
  }

  /** Live stdout (1) and stderr (11), then EXIT_CODE (12). */
  private async runSeparate(): Promise<PluginResult> {
    const started = await this.start(['ignore', 'pipe', 'pipe']);
    const channel = this.context.channel;
    if (started.error !== undefined) {
      // sendExitCode sends only while the data channel is active (not paused).
      if (!channel.paused) channel.sendStream(PayloadType.ExitCode, Buffer.from('EXIT_CODE: 1'));
      return this.startFailed(started.error);
    }
    const child = this.child as ChildProcess;
    const out = this.newPump(PayloadType.Output, { prefix: this.options.stdOutSeparatorPrefix, separate: true });
    const err = this.newPump(PayloadType.StdErr, { prefix: this.options.stdErrSeparatorPrefix, separate: true });
    this.feed(out, child.stdout as Readable);
    this.feed(err, child.stderr as Readable);
    void started.exit.then(() => {
      if (!this.waitedByInput) return;
      // The input handler's Wait closed the read ends of the pipes: the readers fail.
      this.releaseSignalWait();
      child.stdout?.destroy();
      child.stderr?.destroy();
      out.end();
      err.end();
    });
    await Promise.all([out.run(), err.run()]);
    const status = await started.exit;
    const failed = out.gaveUp || err.gaveUp || this.waitedByInput;
    // "Wait was already called" after the handler's Wait: not an exit status, so 1.
    const code = this.waitedByInput ? ERROR_EXIT_CODE : status;
    if (!this.stopped && !channel.paused) channel.sendStream(PayloadType.ExitCode, Buffer.from(`EXIT_CODE: ${code}`));
    return { status: failed ? 'failed' : 'success', output: '', terminating: true };
  }

  /** A process that did not start: after 1 s its error as StdErr, then Terminating (the run is failed). */
  private async startFailed(error: string): Promise<PluginResult> {
    await pause(START_FAILURE_STDERR_DELAY_MS, this.stopController.signal);
    if (!this.stopped) this.context.channel.sendStream(PayloadType.StdErr, Buffer.from(error));
    return { status: 'failed', output: `Error occurred starting the command: ${error}\n`, terminating: true };
  }

  private releaseSignalWait(): void {
    if (this.signalWait) this.context.channel.releaseInput();
  }

  private async start(stdio: ['ignore', number | 'pipe', number | 'pipe']): Promise<Started> {
    const settings = this.context.settings;
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
    env.LANG ||= 'C.UTF-8';
    const { executor } = this.options;
    const program = resolveProgram(executor.file, env);
    if ('error' in program) return { exit: Promise.resolve(ERROR_EXIT_CODE), error: program.error };
    const child = spawn(program.file, executor.args, {
      argv0: executor.argv0,
      cwd: settings.shellCwd,
      env,
      stdio,
      detached: true, // its own process group, so stop() can end everything it started
    });
    this.child = child;
    const exit = new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        // As Go's ProcessState.ExitCode(): -1 when the process was killed by a signal.
        resolve(code ?? (signal ? -1 : 0));
      });
    });
    return new Promise((resolve) => {
      child.once('spawn', () => resolve({ exit }));
      child.once('error', (error: NodeJS.ErrnoException) => {
        this.exited = true;
        resolve({ exit: Promise.resolve(ERROR_EXIT_CODE), error: startErrorText(program.file, error) });
      });
    });
  }

  private newPump(payloadType: number, options: { prefix: string; separate: boolean }): OutputPump {
    const channel: AgentChannel = this.context.channel;
    const prefixBytes = Buffer.from(options.prefix);
    let needPrefix = true;
    const pump = new OutputPump({
      send: (chunk) => channel.sendStream(payloadType, chunk),
      // The pipe readers block only in a WebSocket write; a paused channel makes them give up.
      isPaused: options.separate ? () => !channel.transportReady : () => !channel.writable,
      ...(options.separate ? { givesUpWhen: () => channel.paused } : {}),
      initialDelayMs: 0,
      pacing: options.separate ? false : this.context.settings.pacing,
      holdBackPartialUtf8: true,
      chunkSize: STREAM_CHUNK_SIZE - prefixBytes.length,
      readPrefix: (read) => {
        const prefix = needPrefix && prefixBytes.length > 0 ? prefixBytes : undefined;
        needPrefix = read[read.length - 1] === 0x0a;
        return prefix ?? Buffer.alloc(0);
      },
      pauseSource: () => pump.source?.pause(),
      resumeSource: () => pump.source?.resume(),
    }) as SourcedPump;
    const dispose = channel.onWritable(() => pump.wake());
    this.stopController.signal.addEventListener('abort', dispose, { once: true });
    this.pumps.push(pump);
    return pump;
  }

  /** Connects a readable to its pump; the pump pauses and resumes it around its water marks. */
  private feed(pump: OutputPump, stream: Readable | ReadStream): void {
    (pump as SourcedPump).source = stream;
    stream.on('data', (data: Buffer) => pump.push(data));
    stream.once('end', () => pump.end());
    stream.once('error', () => pump.end());
    stream.once('close', () => pump.end());
  }
}

type SourcedPump = OutputPump & { source?: Readable | ReadStream };

interface Started {
  /** Resolves with the exit code once the process has exited. */
  exit: Promise<number>;
  /** The start failure, as the agent reports it. */
  error?: string;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
