// Child processes for end-to-end tests: bounded runs that capture bytes and exit status,
// programs in a real pty, and a look at the process tree through /proc (Linux).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { spawn as spawnPty, type IPty } from 'node-pty';

/** Parent pid of every process, from /proc/<pid>/stat. */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(name), Number(fields[1]));
    } catch {
      // The process went away while we looked.
    }
  }
  return parents;
}

/** Every live descendant of `pid` (children, grandchildren, …), parents first. */
export function descendants(pid: number): number[] {
  const parents = parentMap();
  const children = new Map<number, number[]>();
  for (const [child, parent] of parents) {
    const list = children.get(parent) ?? [];
    list.push(child);
    children.set(parent, list);
  }
  const out: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    out.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return out;
}

/** argv of a live process as the kernel reports it to `ps`; undefined when it is gone. */
export function commandLine(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`);
    const parts = raw.toString('utf8').split('\0');
    if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
    return parts;
  } catch {
    return undefined;
  }
}

/** The command line of every process we may read (what `ps -ef` would show). */
export function allCommandLines(): Array<{ pid: number; argv: string[] }> {
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = commandLine(Number(name));
    if (argv) out.push({ pid: Number(name), argv });
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends SIGKILL to each pid, ignoring those already gone. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** True when the process had to be killed at the deadline. */
  timedOut: boolean;
  durationMs: number;
}

export interface Running {
  child: ChildProcessWithoutNullStreams;
  /** Everything written to stdout so far. */
  stdout(): Buffer;
  stderr(): Buffer;
  exited(): boolean;
  /** Resolves when the process has exited and its pipes are drained (or it was killed). */
  result: Promise<RunResult>;
  /** Kills the process and its descendants now. */
  kill(): void;
}

export interface StartOptions {
  env: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed; leave undefined to keep stdin open. */
  input?: string | Buffer;
  /** The process (and its descendants) are killed after this long. */
  timeoutMs: number;
  cwd?: string;
}

/** Starts a process with piped stdio and a hard deadline. */
export function start(command: string, args: readonly string[], options: StartOptions): Running {
  const started = Date.now();
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: 'pipe' });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let exited = false;
  let timedOut = false;
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin.on('error', () => undefined); // the process may exit before reading everything
  const killTree = (): void => {
    const pid = child.pid;
    if (pid === undefined) return;
    const tree = descendants(pid);
    killAll([pid, ...tree]);
  };
  const timer = setTimeout(() => {
    if (exited) return;
    timedOut = true;
    killTree();
  }, options.timeoutMs);
  const result = new Promise<RunResult>((resolve) => {
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      exited = true;
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        timedOut,
        durationMs: Date.now() - started,
      });
    };
    child.on('error', (error) => {
      err.push(Buffer.from(`spawn error: ${error.message}\n`));
      finish(null, null);
    });
    child.on('close', finish);
  });
  if (options.input !== undefined) child.stdin.end(options.input);
  return {
    child,
    stdout: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err),
    exited: () => exited,
    result,
    kill: () => {
      if (!exited) killTree();
    },
  };
}

export interface PtyRun {
  pty: IPty;
  /** Everything the pty printed so far. */
  screen(): string;
  /** The exit of the pty's process, once it happened. */
  exit(): { exitCode: number } | undefined;
  exited: Promise<void>;
}

/** Runs `file` in a real pty (xterm-256color); it and its descendants are killed with the test. */
export function startPty(
  t: { teardown(fn: () => unknown): void },
  file: string,
  args: readonly string[],
  options: { cols: number; rows: number; env: NodeJS.ProcessEnv; cwd?: string },
): PtyRun {
  const pty = spawnPty(file, [...args], {
    name: 'xterm-256color',
    cols: options.cols,
    rows: options.rows,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: options.env as Record<string, string>,
  });
  let screen = '';
  let exit: { exitCode: number } | undefined;
  pty.onData((data) => (screen += data));
  const exited = new Promise<void>((resolve) => pty.onExit((event) => ((exit = event), resolve())));
  t.teardown(async () => {
    if (exit) return;
    killAll([pty.pid, ...descendants(pty.pid)]);
    await exited;
  });
  return { pty, screen: () => screen, exit: () => exit, exited };
}
