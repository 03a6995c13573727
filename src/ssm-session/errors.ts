/** A mistake in the command line: exit status 2, like other CLIs. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit statuses of `ssm-session` apart from a remote command's own. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** What a shell reports for a process killed by SIGPIPE: our reader went away (`| head`). */
export const EXIT_OUTPUT_CLOSED = 128 + 13;

/** The user left the target picker without choosing (Esc, Ctrl-C): exit status 130, as for Ctrl-C. */
export class PickerCancelled extends Error {
  override readonly name = 'PickerCancelled';
}

/** What a shell reports for a command ended by SIGINT (Ctrl-C). */
export const EXIT_INTERRUPTED = 128 + 2;

/**
 * The session ended without what its command should have reported: the agent failed it
 * (its text in the message), or no exit status came.
 */
export class RemoteCommandError extends Error {
  override readonly name = 'RemoteCommandError';
}

/** Our stdout was closed by its reader; the session was ended. Not worth a message. */
export class OutputClosedError extends Error {
  override readonly name = 'OutputClosedError';
}

/** Text that must never be shown: session tokens and data keys look like long opaque strings. */
const SECRET_FIELD = /("?(?:TokenValue|tokenValue|token|Plaintext|SecretAccessKey|SessionToken)"?\s*[:=]\s*)"?[^"\s,}]+"?/g;

/**
 * The error's message for the user (never a stack trace): one line, except for indented
 * listing lines that follow it (e.g. the instances an ambiguous tag matched). Anything
 * shaped like a secret field is blanked out as a last line of defence.
 */
export function userMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const text = raw
    .trim()
    .replace(/\s*\n(?! {2}\S)\s*/g, '; ')
    .replace(/\s+$/gm, '');
  return (text || (err instanceof Error ? err.name : 'unknown error')).replace(SECRET_FIELD, '$1<hidden>');
}
