import type { DataChannel } from '../channel/data-channel.ts';
import type { Logger } from '../util/logger.ts';
import type { SessionIO } from './io.ts';

export interface EndRequest {
  /** Why, for the debug log. */
  reason: string;
  /** Send the TerminateSession flag first and wait (bounded) for its ack (§9.2, Q10). */
  terminateFlag?: boolean;
  /** Also call the TerminateSession API. */
  terminateApi?: boolean;
}

/** What a handler may ask of the session that runs it. */
export interface HandlerContext {
  readonly sessionId: string;
  readonly channel: DataChannel;
  readonly io: SessionIO;
  readonly logger: Logger;
  /** Agent version from the handshake; empty for sessions without one. */
  readonly agentVersion: string;
  /** SessionType properties from the handshake (Port parameters), or null. */
  readonly properties: Record<string, unknown> | null;
  /** A message for the user (the session's 'notice' event; the CLI decides where it goes). */
  notice(text: string): void;
  /** Whether a command's exit code becomes our exit status (else it is printed, as officially). */
  readonly exitStatusFromRemote: boolean;
  reportExitCode(code: number): void;
  /** Ends the session from this side. */
  end(request: EndRequest): void;
  /** Ends the session with an error shown to the user. */
  fail(reason: string): void;
}

/** Local side of one session type: starts local I/O, takes in-order payloads, restores. */
export interface SessionHandler {
  /** True when stdout is the session's byte stream, so notices must go to stderr. */
  readonly dataOnStdout?: boolean;
  /** Starts local I/O; a rejection fails the session (e.g. the local port is taken). */
  start(): void | Promise<void>;
  /** An in-order payload from the agent; false means "not ready, do not ack". */
  receive(payloadType: number, payload: Buffer): boolean;
  /** A signal the CLI caught; true when the handler dealt with it. */
  signal(name: NodeJS.Signals): boolean;
  /** Undoes everything start() did (terminal mode, listeners, sockets). Safe to call twice. */
  stop(): void;
}
