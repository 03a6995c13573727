/**
 * Commands for the agent's command documents that survive both ways the agent reads
 * them (agent/session/shell/shell_unix.go): NonInteractiveCommands, and everything in
 * container mode (ECS exec), are split with google/shlex rules and executed without a
 * shell; InteractiveCommands on an instance go through `sh -c <command>`. A command
 * built here is `sh -c '<script>' <arg0> <args...>`, each word quoted so that shlex and
 * a POSIX shell both read exactly these words: single quotes, and `'\''` for a quote
 * inside a word (both read `\'` outside quotes as a literal quote).
 */

/** Words that need no quoting in either reader (no space, quote, backslash, `#`, `$`, glob or operator). */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One word, quoted for shlex and for sh alike. */
export function shQuote(word: string): string {
  if (PLAIN_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `sh -c '<script>' <name> <args...>`: the script sees the args as $1, $2, ... The
 * script must not contain a single quote (it is passed as one single-quoted word) nor
 * `{{`, which SSM documents would take for a parameter reference.
 */
export function shCommand(script: string, name: string, args: readonly string[] = []): string {
  if (script.includes("'")) throw new RangeError('the script must not contain single quotes');
  if (script.includes('{{')) throw new RangeError('the script must not contain {{ (SSM parameter syntax)');
  return ['sh', '-c', `'${script}'`, shQuote(name), ...args.map(shQuote)].join(' ');
}
