import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { shlexSplit } from './shlex.ts';

/**
 * What the agent executes for a command session (agent/session/shell/shell_unix.go,
 * StartCommandExecutor), and the errors it reports when it cannot:
 *
 * - an empty command (blank after Go's strings.TrimSpace) runs `sh`;
 * - InteractiveCommands on an instance run `sh -c <command>`;
 * - NonInteractiveCommands, and every command in container mode (ECS exec), are split with
 *   google/shlex and the first word is executed directly, without a shell.
 *
 * A name without a slash is looked up in PATH first, as Go's exec.Command does.
 */

export interface Executor {
  /** The program to start (a path once looked up). */
  file: string;
  args: string[];
  /** argv[0] as Go sets it: the name as written. */
  argv0: string;
}

export type ExecutorResult =
  | { ok: true; executor: Executor }
  /** The executor could not be made; `error` is the agent's text ("Failed to parse commands input: …\n"). */
  | { ok: false; error: string }
  /** A command with no words at all (e.g. only a comment): the agent indexes the empty word list and crashes. */
  | { ok: false; crash: true };

/** Go's unicode.IsSpace, for strings.TrimSpace. */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

export function commandExecutor(command: string, options: { viaShell: boolean }): ExecutorResult {
  if (GO_SPACE.test(command)) return { ok: true, executor: { file: 'sh', args: [], argv0: 'sh' } };
  if (options.viaShell) return { ok: true, executor: { file: 'sh', args: ['-c', command], argv0: 'sh' } };
  const split = shlexSplit(command);
  if (split.error !== undefined) return { ok: false, error: `Failed to parse commands input: ${split.error}\n` };
  const [first, ...rest] = split.words;
  if (first === undefined) return { ok: false, crash: true };
  return { ok: true, executor: { file: first, args: rest, argv0: first } };
}

/** Text of the errno values a start can fail with, as Go's syscall.Errno prints them. */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  ENOEXEC: 'exec format error',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  E2BIG: 'argument list too long',
  ETXTBSY: 'text file busy',
};

/** `fork/exec <path>: <errno>`, Go's os.StartProcess error. */
export function startErrorText(file: string, error: NodeJS.ErrnoException): string {
  return `fork/exec ${file}: ${ERRNO_TEXT[error.code ?? ''] ?? error.message}`;
}

function isExecutableFile(file: string): boolean {
  try {
    if (statSync(file).isDirectory()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves the program as Go's exec.Command and Cmd.Start do: a name without a slash
 * through PATH (`exec: "<name>": executable file not found in $PATH` when absent), a path
 * as it is (a missing or unusable one fails as os.StartProcess would). Returns the path to
 * start, or the error text the agent reports.
 */
export function resolveProgram(name: string, env: NodeJS.ProcessEnv): { file: string } | { error: string } {
  if (name.includes('/')) {
    try {
      const stats = statSync(name);
      if (stats.isDirectory()) return { error: `fork/exec ${name}: permission denied` };
      accessSync(name, constants.X_OK);
    } catch (error) {
      return { error: startErrorText(name, error as NodeJS.ErrnoException) };
    }
    return checkFormat(name);
  }
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!path.isAbsolute(dir)) continue; // Go refuses results relative to the working directory
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return checkFormat(candidate);
  }
  return { error: `exec: ${goQuote(name)}: executable file not found in $PATH` };
}

/**
 * execve refuses a file that is neither an ELF binary nor a `#!` script (ENOEXEC); Go
 * reports that, where Node's spawn (execvp) would quietly run the file with /bin/sh.
 */
function checkFormat(file: string): { file: string } | { error: string } {
  const head = Buffer.alloc(4);
  let length = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      length = readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return { file }; // unreadable but executable: let the start itself fail
  }
  const magic = head.subarray(0, length);
  const known = magic.subarray(0, 2).toString('latin1') === '#!' || magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  return known ? { file } : { error: `fork/exec ${file}: exec format error` };
}

const GO_PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const GO_ESCAPES: Record<string, string> = {
  '\u0007': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

/** Go's strconv.Quote (the `%q` in exec's "not found" error). */
export function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const escape = GO_ESCAPES[char];
    if (escape !== undefined) out += escape;
    else if (GO_PRINTABLE.test(char)) out += char;
    else {
      const code = char.codePointAt(0) as number;
      if (code < 0x80) out += `\\x${code.toString(16).padStart(2, '0')}`;
      else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, '0')}`;
      else out += `\\U${code.toString(16).padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}
