/** A failure that ends a session, with a message meant for the user (never a secret). */
export class SessionError extends Error {
  /** Shown as it is, without the `Cannot perform start session:` prefix (official texts). */
  readonly verbatim: boolean;

  constructor(message: string, options?: { cause?: unknown; verbatim?: boolean }) {
    super(message, options);
    this.name = 'SessionError';
    this.verbatim = options?.verbatim ?? false;
  }
}
