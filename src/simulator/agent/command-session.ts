import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, openSync, closeSync, rmSync, type ReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { PayloadType } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import type { AgentChannel, InputVerdict } from './agent-channel.ts';
import { OutputPump } from './output-pump.ts';
import type { PluginContext, SessionPlugin } from './session-plugin.ts';

/** Input bytes a NonInteractiveCommands session turns into signals; all others are discarded (§7.2). */
const SIGNAL_BYTES: ReadonlyMap<number, NodeJS.Signals> = new Map([
  [0x03, 'SIGINT'],
  [0x1c, 'SIGQUIT'],
]);
/** After a start failure the agent sends the StdErr text about a second after EXIT_CODE (§11.5). */
export const START_FAILURE_STDERR_DELAY_MS = 1000;
const KILL_GRACE_MS = 1000;

export interface NonInteractiveOptions {
  command: string;
  separateOutputStream: boolean;
  stdOutSeparatorPrefix: string;
  stdErrSeparatorPrefix: string;
}

/**
 * NonInteractiveCommands on the agent (PROTOCOL.md §7.2, §11.4, §11.5): the command runs
 * with `<shell> -c` and no pty. Without separate streams, stdout and stderr go to one file
 * which is streamed as PayloadType 1 once the process has exited. With separate streams,
 * stdout is streamed live as PayloadType 1 and stderr as PayloadType 11 (each with its
 * optional chunk prefix), followed by one PayloadType 12 `EXIT_CODE: <n>` frame. Of the
 * client's input only 0x03 and 0x1c are used, as SIGINT and SIGQUIT; Size is ignored.
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
  /** Signals sent because of client input, in order (for tests). */
  readonly signalsSent: NodeJS.Signals[] = [];

  constructor(context: PluginContext, options: NonInteractiveOptions) {
    this.context = context;
    this.options = options;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async run(): Promise<string> {
    const workDir = this.options.separateOutputStream ? undefined : mkdtempSync(path.join(tmpdir(), 'sim-cmd-'));
    try {
      if (this.options.separateOutputStream) await this.runSeparate();
      else await this.runCombined(workDir as string);
    } finally {
      if (this.killTimer) clearTimeout(this.killTimer);
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    }
    return '';
  }

  handleInput(frame: Frame): InputVerdict {
    if (frame.payloadType !== PayloadType.Output) return 'accepted'; // Size, flags: ignored
    for (const byte of frame.payload) {
      const signal = SIGNAL_BYTES.get(byte);
      if (signal && this.child && !this.exited) {
        this.signalsSent.push(signal);
        this.child.kill(signal);
      }
    }
    return 'accepted';
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
  private async runCombined(workDir: string): Promise<void> {
    const file = path.join(workDir, 'output');
    const fd = openSync(file, 'w');
    let started: Started;
    try {
      started = await this.start(['ignore', fd, fd]);
    } finally {
      closeSync(fd);
    }
    const sourced = this.newPump(PayloadType.Output, '');
    const pump = sourced.pump;
    const pumping = pump.run();
    if (started.error !== undefined) {
      await this.delay(START_FAILURE_STDERR_DELAY_MS);
      pump.push(Buffer.from(started.error));
      pump.end();
      await pumping;
      return;
    }
    await started.closed;
    if (this.stopped) {
      pump.end();
      await pumping;
      return;
    }
    const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
    this.feed(sourced, stream);
    await pumping;
    stream.destroy();
  }

  /** Live stdout (1) and stderr (11), then EXIT_CODE (12). */
  private async runSeparate(): Promise<void> {
    const started = await this.start(['ignore', 'pipe', 'pipe']);
    const channel = this.context.channel;
    if (started.error !== undefined) {
      channel.sendStream(PayloadType.ExitCode, Buffer.from('EXIT_CODE: 1'));
      await this.delay(START_FAILURE_STDERR_DELAY_MS);
      if (!this.stopped) channel.sendStream(PayloadType.StdErr, Buffer.from(started.error));
      return;
    }
    const child = this.child as ChildProcess;
    const out = this.newPump(PayloadType.Output, this.options.stdOutSeparatorPrefix);
    const err = this.newPump(PayloadType.StdErr, this.options.stdErrSeparatorPrefix);
    this.feed(out, child.stdout as Readable);
    this.feed(err, child.stderr as Readable);
    await Promise.all([out.pump.run(), err.pump.run()]);
    const code = await started.closed;
    if (!this.stopped) channel.sendStream(PayloadType.ExitCode, Buffer.from(`EXIT_CODE: ${code}`));
  }

  private start(stdio: ['ignore', number | 'pipe', number | 'pipe']): Promise<Started> {
    const settings = this.context.settings;
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
    env.LANG ??= 'C.UTF-8';
    const shell = settings.commandShellPath ?? '/bin/bash';
    return new Promise((resolve) => {
      const child = spawn(shell, ['-c', this.options.command], {
        cwd: settings.shellCwd,
        env,
        stdio,
        detached: true, // its own process group, so stop() can end everything it started
      });
      this.child = child;
      const closed = new Promise<number>((resolveClosed) => {
        child.once('close', (code, signal) => {
          this.exited = true;
          // As Go's ProcessState.ExitCode(): -1 when the process was killed by a signal.
          resolveClosed(code ?? (signal ? -1 : 0));
        });
      });
      child.once('spawn', () => resolve({ closed }));
      child.once('error', (error: NodeJS.ErrnoException) => {
        this.exited = true;
        resolve({ closed, error: startErrorText(shell, error) });
      });
    });
  }

  private newPump(payloadType: number, prefix: string): SourcedPump {
    const channel: AgentChannel = this.context.channel;
    const sourced: SourcedPump = { pump: undefined as unknown as OutputPump, source: undefined };
    const prefixBytes = Buffer.from(prefix);
    let atChunkStart = true;
    const pump = new OutputPump({
      send: (chunk) => {
        const out = prefixBytes.length > 0 && atChunkStart ? Buffer.concat([prefixBytes, chunk]) : chunk;
        atChunkStart = chunk[chunk.length - 1] === 0x0a;
        channel.sendStream(payloadType, out);
      },
      isPaused: () => !channel.writable,
      initialDelayMs: this.context.settings.shellDelayMs,
      pacing: this.context.settings.pacing,
      holdBackPartialUtf8: true,
      pauseSource: () => sourced.source?.pause(),
      resumeSource: () => sourced.source?.resume(),
    });
    sourced.pump = pump;
    const dispose = channel.onWritable(() => pump.wake());
    this.stopController.signal.addEventListener('abort', dispose, { once: true });
    this.pumps.push(pump);
    return sourced;
  }

  /** Connects a readable to its pump; the pump pauses and resumes it around its water marks. */
  private feed(pump: SourcedPump, stream: Readable | ReadStream): void {
    pump.source = stream;
    stream.on('data', (data: Buffer) => pump.pump.push(data));
    stream.once('end', () => pump.pump.end());
    stream.once('error', () => pump.pump.end());
  }

  private async delay(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.stopController.signal });
    } catch {
      // stopped
    }
  }
}

interface SourcedPump {
  pump: OutputPump;
  source: Readable | undefined;
}

interface Started {
  /** Resolves with the exit code once the process has exited and its pipes are closed. */
  closed: Promise<number>;
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

/** Go-style text for a failed process start (`fork/exec <path>: <reason>`). */
function startErrorText(file: string, error: NodeJS.ErrnoException): string {
  const reasons: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
  };
  return `fork/exec ${file}: ${reasons[error.code ?? ''] ?? error.message}`;
}
