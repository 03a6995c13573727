import type { SessionError } from './errors.ts';

/**
 * What a session is given and what it gives back: the StartSession answer it runs on,
 * the SSM calls it may make, and its state and outcome. The plugin CLI, the library and
 * the AWS adapters share these without depending on the engine that runs a session.
 */

/** The StartSession (or ECS ExecuteCommand) answer a session runs on. */
export interface SessionParameters {
  sessionId: string;
  tokenValue: string;
  streamUrl: string;
  target: string;
}

/** ResumeSession's answer: a new token (none when the session is over) and maybe a new URL. */
export interface ResumedSession {
  tokenValue: string | undefined;
  streamUrl: string | undefined;
}

/** The SSM API calls a session may need; optional so sessions run without AWS. */
export interface SessionApi {
  terminateSession(sessionId: string): Promise<void>;
  /** Rejects with ResumeRefusedError when retrying cannot help (no such session, no access, bad setup). */
  resumeSession?(sessionId: string): Promise<ResumedSession>;
}

/** ResumeSession failed for good: the session is gone, or the credentials or the setup are wrong. */
export class ResumeRefusedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ResumeRefusedError';
  }
}

/** What a session is doing, as reported by the 'state' event. */
export type SessionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** How a session ended: closed by the agent, ended from this side, or failed. */
export type SessionOutcome =
  | { status: 'closed'; output: string; exitCode?: number }
  | { status: 'ended'; reason: string }
  | { status: 'failed'; error: SessionError };
