/**
 * Command lines as the agent needs them to run through a shell.
 *
 * The agent does not give a command session's `command` to a shell: it splits it into
 * words with github.com/google/shlex and executes the first word (Linux and macOS:
 * agent/session/shell/shell_unix.go, for AWS-StartNonInteractiveCommand and for every
 * command in an ECS container; Windows: shell_windows.go runs `powershell` with the words
 * as its arguments). So `cd /var/log && ls` would run a program named `cd`. Only
 * InteractiveCommands on an instance go through `sh -c <command>`. A command meant for a
 * shell is wrapped here so that both readers yield exactly the shell, the command and its
 * arguments, whatever quotes, `$`, `&&`, redirections, newlines or other characters they hold.
 */

/** The target's operating system family, as SSM's PlatformType says it. */
export type RemotePlatform = 'Linux' | 'MacOS' | 'Windows';

/** Words that need no quoting for shlex nor sh (no space, quote, backslash, `#`, `$`, glob or operator). */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Single quotes, and `'\''` for a quote inside: inside single quotes shlex (like sh) keeps
 * every character, and both read `\'` outside quotes as a literal quote.
 */
function singleQuoted(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** One word, quoted for shlex and for sh alike (left bare when nothing in it needs quoting). */
export function shQuote(word: string): string {
  return PLAIN_WORD.test(word) ? word : singleQuoted(word);
}

/**
 * `sh -c '<script>'`, or with a name `sh -c '<script>' <name> <args...>`, where the script
 * sees the args as $1, $2, ... (and the name as $0, which `ps` shows).
 */
export function shCommand(script: string, name?: string, args: readonly string[] = []): string {
  const rest = name === undefined ? [] : [shQuote(name), ...args.map(shQuote)];
  return ['sh', '-c', singleQuoted(script), ...rest].join(' ');
}

/**
 * PowerShell arguments carrying the script as base64 of its UTF-16LE text: nothing in it
 * can be split, quoted or re-encoded on the way (`powershell -EncodedCommand`).
 */
function powerShellArguments(command: string): string {
  // An empty script would leave -EncodedCommand without its value; one space runs nothing too.
  const encoded = Buffer.from(command === '' ? ' ' : command, 'utf16le').toString('base64');
  return `-NoProfile -NonInteractive -EncodedCommand ${encoded}`;
}

/**
 * The `command` parameter that makes the agent run `command` through the platform's
 * shell: `sh -c` on Linux and macOS, PowerShell on Windows (the agent itself puts
 * `powershell` in front of the words there).
 */
export function remoteCommand(command: string, platform: RemotePlatform): string {
  return platform === 'Windows' ? powerShellArguments(command) : shCommand(command);
}
