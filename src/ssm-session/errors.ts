/** A mistake in the command line: exit status 2, like other CLIs. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit statuses of `ssm-session` apart from a remote command's own. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Text that must never be shown: session tokens and data keys look like long opaque strings. */
const SECRET_FIELD = /("?(?:TokenValue|tokenValue|token|Plaintext|SecretAccessKey|SessionToken)"?\s*[:=]\s*)"?[^"\s,}]+"?/g;

/**
 * One line for the user: the error's message only (never a stack trace), on one line,
 * with anything shaped like a secret field blanked out as a last line of defence.
 */
export function userMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const oneLine = raw.replace(/\s*\n\s*/g, '; ').trim() || (err instanceof Error ? err.name : 'unknown error');
  return oneLine.replace(SECRET_FIELD, '$1<hidden>');
}
