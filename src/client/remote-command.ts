/**
 * A command line as the agent needs it to run through a shell.
 *
 * The agent does not give a command session's `command` to a shell: it splits it into
 * words with github.com/google/shlex and executes the first word (Linux and macOS:
 * agent/session/shell/shell_unix.go, for AWS-StartNonInteractiveCommand and for every
 * command in an ECS container; Windows: shell_windows.go runs `powershell` with the words
 * as its arguments). So `cd /var/log && ls` would run a program named `cd`. A command
 * meant for a shell is wrapped here so that the agent's split yields exactly the shell and
 * the command, whatever quotes, `$`, `&&`, redirections, newlines or other characters it
 * holds.
 */

/** The target's operating system family, as SSM's PlatformType says it. */
export type RemotePlatform = 'Linux' | 'MacOS' | 'Windows';

/** `sh -c '<command>'`: inside single quotes google/shlex (like sh) keeps every character; `'` itself is `'\''`. */
function shellCommand(command: string): string {
  return `sh -c '${command.replaceAll("'", "'\\''")}'`;
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
  return platform === 'Windows' ? powerShellArguments(command) : shellCommand(command);
}
