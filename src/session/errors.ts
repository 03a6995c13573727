/** A failure that ends a session, with a message meant for the user (never a secret). */
export class SessionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionError';
  }
}
