import { setTimeout as sleep } from 'node:timers/promises';
import { PayloadType } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import type { InputVerdict } from './agent-channel.ts';
import type { PluginContext, PluginResult, SessionPlugin } from './session-plugin.ts';

/** shell.go execute: after the command executor could not be created, the agent sleeps 2 s. */
export const EXECUTOR_FAILURE_DELAY_MS = 2000;
/** shell.go sendErrorToDataChannel: it sleeps 1 s before sending its StdErr frame. */
export const ERROR_TO_CHANNEL_DELAY_MS = 1000;

/** Sleeps unless `signal` aborts first; never throws. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // aborted
  }
}

/**
 * A command session whose executor could not be made (agent/session/shell/shell.go,
 * execute): a command that does not split, or a pty that does not start. The agent waits
 * 2 s; for NonInteractiveCommands it then sends the error as StdErr (after its own 1 s),
 * and fails the session with `Unable to start command: <error>\n`, without Terminating.
 *
 * With no error text, the command had no words at all: shell_unix.go indexes the empty
 * list, and the plugin's recover handler exits the session worker at once (os.Exit(1)).
 */
export class ExecutorFailure implements SessionPlugin {
  private readonly context: PluginContext;
  private readonly text: string | undefined;
  private readonly toChannel: boolean;
  private readonly stopped = new AbortController();

  constructor(context: PluginContext, error: string | undefined, options: { toChannel: boolean }) {
    this.context = context;
    this.text = error === undefined ? undefined : `Unable to start command: ${error}\n`;
    this.toChannel = options.toChannel;
  }

  async run(): Promise<PluginResult> {
    const text = this.text;
    if (text === undefined) return { status: 'failed', output: '', terminating: false };
    await pause(EXECUTOR_FAILURE_DELAY_MS, this.stopped.signal);
    if (this.toChannel && !this.stopped.signal.aborted) {
      await pause(ERROR_TO_CHANNEL_DELAY_MS, this.stopped.signal);
      if (!this.stopped.signal.aborted) this.context.channel.sendStream(PayloadType.StdErr, Buffer.from(text));
    }
    return { status: 'failed', output: text, terminating: false };
  }

  handleInput(_frame: Frame): InputVerdict {
    // No pty: the shell plugin rejects input (ErrHandlerNotReady); no process to signal either.
    return this.toChannel ? 'accepted' : 'not-ready';
  }

  stop(): void {
    this.stopped.abort();
  }
}
