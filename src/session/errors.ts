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

/** The handshake could not be answered (the cipher or the channel failed while answering it). */
export class HandshakeError extends SessionError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`the handshake with the agent failed: ${reason}`, options);
    this.name = 'HandshakeError';
  }
}
