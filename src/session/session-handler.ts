import type { DataChannel } from '../channel/data-channel.ts';
import type { Logger } from '../util/logger.ts';
import type { SessionIO } from './io.ts';

/** What a handler may ask of the session that runs it. */
export interface HandlerContext {
  readonly sessionId: string;
  readonly channel: DataChannel;
  readonly io: SessionIO;
  readonly logger: Logger;
  /** Ends the session locally (e.g. the user asked to quit); `reason` is shown. */
  end(reason?: string): void;
}

/** Local side of one session type: starts local I/O, takes in-order payloads, restores. */
export interface SessionHandler {
  start(): void;
  /** An in-order payload from the agent; false means "not ready, do not ack". */
  receive(payloadType: number, payload: Buffer): boolean;
  /** A signal the CLI caught; true when the handler dealt with it. */
  signal(name: NodeJS.Signals): boolean;
  /** Undoes everything start() did (terminal mode, listeners). Safe to call twice. */
  stop(): void;
}
