import type { DialFailure } from '../session/port/dial-failure.ts';

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
  /** A port session the agent closed because it could not reach the destination: why. */
  readonly dialFailure: DialFailure | undefined;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown; dialFailure?: DialFailure }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
    this.dialFailure = options?.dialFailure;
  }
}

/** The message of anything thrown, without its stack. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
