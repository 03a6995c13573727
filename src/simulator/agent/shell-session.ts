import { spawn, type IPty } from 'node-pty';
import { PayloadType } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import { decodeSize } from '../../protocol/payloads.ts';
import type { InputVerdict } from './agent-channel.ts';
import { OutputPump } from './output-pump.ts';
import { PLUGIN_SUCCESS, type PluginContext, type PluginResult, type SessionPlugin } from './session-plugin.ts';

/** The pty's size until the client sends one; the agent does not pick anything clever. */
const INITIAL_COLS = 80;
const INITIAL_ROWS = 24;
/** If the shell ignores SIGHUP when the session is cancelled, escalate after this long. */
const KILL_GRACE_MS = 1000;
/**
 * node-pty destroys a pty's socket 200 ms after its process exits unless the socket has
 * closed by then (a workaround for macOS), discarding output still unread: on a busy
 * machine, or while the pump has paused the pty, the tail of a command's output. The agent
 * reads a pty until the read fails (shell.go, writePump), so that destroy is put off until
 * the output has been read to its end, or nothing has come for this long (a background
 * process still holding the terminal).
 */
const DRAIN_IDLE_MS = 5000;

/** The pty's read side, which node-pty keeps as `_socket` on Unix. */
type PtySocket = { destroy(error?: Error): unknown; destroyed: boolean };

/**
 * Standard_Stream (and InteractiveCommands) on the agent: a real shell in a pty
 * (PROTOCOL.md §11.2–§11.4). Output Payload 1 goes to stdin, Size resizes the pty, flags
 * and other payloads are ignored; pty output is read by the agent's paced loop. When the
 * process ends by itself the agent reports Terminating; when the session is cancelled it
 * does not (agent/session/shell/shell.go, executeCommandsWithPty).
 */
export class ShellSession implements SessionPlugin {
  private readonly pty: IPty;
  private readonly pump: OutputPump;
  private readonly exited: Promise<void>;
  private hasExited = false;
  private stopped = false;
  private killTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly disposeResumeListener: () => void;

  constructor(context: PluginContext, command?: { file: string; args: readonly string[] }) {
    const settings = context.settings;
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
    env.TERM = 'xterm-256color';
    env.LANG ??= 'C.UTF-8';
    env.PS1 = settings.shellPrompt;
    env.HISTFILE = ''; // keep the simulator from writing a history file on exit
    this.pty = spawn(command?.file ?? settings.shellPath, [...(command?.args ?? settings.shellArgs)], {
      name: 'xterm-256color',
      cols: INITIAL_COLS,
      rows: INITIAL_ROWS,
      cwd: settings.shellCwd,
      env,
      encoding: null, // raw bytes: the UTF-8 hold-back works on bytes, as in the agent
    });
    const channel = context.channel;
    this.pump = new OutputPump({
      send: (chunk) => channel.sendStream(PayloadType.Output, chunk),
      isPaused: () => !channel.writable,
      initialDelayMs: settings.shellDelayMs,
      pacing: settings.pacing,
      holdBackPartialUtf8: true,
      pauseSource: () => this.pty.pause(),
      resumeSource: () => this.pty.resume(),
    });
    this.disposeResumeListener = channel.onWritable(() => this.pump.wake());
    // node-pty emits Buffers when encoding is null, although its typings say string.
    this.pty.onData((data: string | Buffer) => this.pump.push(Buffer.isBuffer(data) ? data : Buffer.from(data)));
    this.readToTheEnd();
    this.exited = new Promise((resolve) => {
      // node-pty reports exit only after the pty's output has been read to the end.
      this.pty.onExit(() => {
        this.hasExited = true;
        if (this.killTimer) clearTimeout(this.killTimer);
        if (this.drainTimer) clearTimeout(this.drainTimer);
        this.pump.end();
        resolve();
      });
    });
  }

  get pid(): number {
    return this.pty.pid;
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.pty.cols, rows: this.pty.rows };
  }

  async run(): Promise<PluginResult> {
    await this.pump.run();
    await this.exited;
    this.disposeResumeListener();
    return this.stopped ? { ...PLUGIN_SUCCESS, terminating: false } : PLUGIN_SUCCESS;
  }

  handleInput(frame: Frame): InputVerdict {
    if (this.hasExited || this.pump.aborted) return 'accepted'; // nothing left to feed
    switch (frame.payloadType) {
      case PayloadType.Output:
        if (frame.payload.length > 0) this.pty.write(Buffer.from(frame.payload));
        break;
      case PayloadType.Size: {
        const size = decodeSize(frame.payload); // already truncated to 16 bits
        // node-pty refuses a zero dimension; the agent would pass it to the kernel.
        // The pty may close before its exit is reported: the agent only logs a failed resize.
        if (size && size.cols > 0 && size.rows > 0) {
          try {
            this.pty.resize(size.cols, size.rows);
          } catch {
            // gone
          }
        }
        break;
      }
      default:
        break; // flags and anything else are ignored by the shell plugin
    }
    return 'accepted';
  }

  /** Keeps node-pty from throwing away unread output once the process has exited (DRAIN_IDLE_MS). */
  private readToTheEnd(): void {
    const socket = (this.pty as unknown as { _socket?: PtySocket })._socket;
    if (!socket || typeof socket.destroy !== 'function') return; // not node-pty's Unix pty
    const destroy = socket.destroy.bind(socket);
    const destroyLater = () => {
      if (this.drainTimer) clearTimeout(this.drainTimer);
      this.drainTimer = setTimeout(() => destroy(), DRAIN_IDLE_MS);
    };
    socket.destroy = (error?: Error) => {
      if (error || socket.destroyed || this.stopped) return destroy(error);
      this.pty.resume(); // read on: the end of the output (EIO) closes the socket
      this.pty.onData(destroyLater);
      destroyLater();
      return socket;
    };
  }

  stop(): void {
    this.stopped = true;
    this.pump.abort();
    if (this.hasExited) return;
    this.pty.resume(); // a paused pty would never report its exit
    this.pty.kill('SIGHUP');
    this.killTimer ??= setTimeout(() => {
      if (!this.hasExited) this.pty.kill('SIGKILL');
    }, KILL_GRACE_MS);
  }
}
