import { spawn as spawnPty, type IPty } from 'node-pty';
import { descendants, killAll } from './processes.ts';
import type { TestContext } from './ssm-session-cli.ts';
import { printable, waitFor } from './wait.ts';

/** ssm-session in a real terminal (node-pty): what it printed, and how it ended. */
export interface Terminal {
  pty: IPty;
  screen(): string;
  exit(): { exitCode: number; signal?: number } | undefined;
  exited: Promise<void>;
  /** Waits for `pattern` in what was printed after `from`. */
  after(from: number, pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpExecArray>;
}

/** Starts `command` (node and its arguments: from source or the binary) with `args` in a terminal of `cols` x `rows`; killed at teardown if still running. */
export function openTerminal(
  t: TestContext,
  command: [string, string[]],
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  { cols = 120, rows = 40, timeoutMs = 15_000 } = {},
): Terminal {
  const [program, prefix] = command;
  const pty = spawnPty(program, [...prefix, ...args], { name: 'xterm-256color', cols, rows, env: env as Record<string, string> });
  let screen = '';
  let exit: { exitCode: number; signal?: number } | undefined;
  const exited = new Promise<void>((resolve) =>
    pty.onExit((event) => {
      exit = event;
      resolve();
    }),
  );
  pty.onData((data) => (screen += data));
  t.teardown(async () => {
    if (exit) return;
    killAll([pty.pid, ...descendants(pty.pid)]);
    await exited;
  });
  return {
    pty,
    screen: () => screen,
    exit: () => exit,
    exited,
    after: (from, pattern, what, wait = timeoutMs) =>
      waitFor(() => pattern.exec(screen.slice(from)), {
        what,
        timeoutMs: wait,
        context: () => printable(screen),
        abort: () => (exit ? `ssm-session exited (${JSON.stringify(exit)})` : undefined),
      }),
  };
}
