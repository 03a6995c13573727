import type { DataChannel } from '../channel/data-channel.ts';
import { FlagCode, PayloadType } from '../protocol/constants.ts';
import { encodeFlag } from '../protocol/payloads.ts';
import type { Logger } from '../util/logger.ts';
import type { SessionApi } from './session-contract.ts';

/** How long an exit waits for the TerminateSession API call. */
const TERMINATE_WAIT_MS = 5000;
/** How long an exit waits for the agent to acknowledge the TerminateSession flag. */
export const FLAG_ACK_WAIT_MS = 2000;

/**
 * Ending a session from this side: the TerminateSession flag to the agent (with a
 * bounded wait for its acknowledgement, §9.2) and the TerminateSession API call (once,
 * its failure only logged). The outcome waits for the call, at most a few seconds.
 */
export class Termination {
  private readonly sessionId: string;
  private readonly channel: DataChannel;
  private readonly api: SessionApi | undefined;
  private readonly log: Logger;
  private calling: Promise<void> | undefined;

  constructor(options: { sessionId: string; channel: DataChannel; api: SessionApi | undefined; logger: Logger }) {
    this.sessionId = options.sessionId;
    this.channel = options.channel;
    this.api = options.api;
    this.log = options.logger;
  }

  /** Sends the TerminateSession flag; resolves once acknowledged or after FLAG_ACK_WAIT_MS. */
  async sendFlag(): Promise<void> {
    this.channel.send(PayloadType.Flag, encodeFlag(FlagCode.TerminateSession));
    const delivered = await this.channel.flushed(FLAG_ACK_WAIT_MS);
    this.log.debug(delivered ? 'TerminateSession flag acknowledged' : 'TerminateSession flag not acknowledged in time');
  }

  /** Calls TerminateSession once (without an API, nothing); resolves when done or after TERMINATE_WAIT_MS. */
  callApi(): Promise<void> {
    const api = this.api;
    if (!api) return Promise.resolve();
    this.calling ??= Promise.race([
      api.terminateSession(this.sessionId).catch((err: unknown) => {
        this.log.debug(`TerminateSession failed: ${err instanceof Error ? err.message : String(err)}`);
      }),
      new Promise<void>((resolve) => setTimeout(resolve, TERMINATE_WAIT_MS).unref()),
    ]);
    return this.calling;
  }

  /** Resolves when the API call made so far (if any) is over. */
  get settled(): Promise<void> {
    return this.calling ?? Promise.resolve();
  }
}
