/**
 * What went wrong, for the user: the message is shown as it is (no stack trace, never a
 * token or key). `code` lets programs tell failures apart.
 */
export type ClientErrorCode =
  | 'start-failed' // StartSession was refused or could not be called
  | 'session-failed' // the session ended before it was usable
  | 'session-closed' // the session is over; no new streams
  | 'listen-failed' // a local listener could not be opened
  | 'invalid-argument';

export class ClientError extends Error {
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

/** The message of anything thrown, without its stack. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
