import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { FlagCode } from '../protocol/constants.ts';
import { decodeFlag } from '../protocol/payloads.ts';
import type { SessionHandler } from '../session/session-handler.ts';

/** How a port session carries connections: smux streams, or one raw stream at a time. */
export type PortMode = 'mux' | 'basic';

/**
 * A port session handler that hands byte streams to the library instead of listening
 * locally. Each stream is one connection from the agent to the destination.
 *
 * Events: 'refused' when the agent reports that it could not connect to the destination.
 */
export interface StreamHandler extends SessionHandler, EventEmitter {
  readonly mode: PortMode;
  /** Streams open now (basic mode: 0 or 1). */
  readonly activeStreams: number;
  /** A new stream; basic mode waits until the previous one is closed. */
  openStream(): Promise<Duplex>;
  /** ConnectToPortError flags not yet matched to a stream. */
  readonly pendingRefusals: number;
  /** Matches one ConnectToPortError flag to a stream that ended without data. */
  takeRefusal(): boolean;
  /** Gives back a chunk read from one of its streams once it is no longer used (optional recycling). */
  recycle(chunk: Buffer): void;
}

/** The ConnectToPortError bookkeeping both modes share. */
export abstract class RefusalCounter extends EventEmitter {
  private refusals = 0;

  get pendingRefusals(): number {
    return this.refusals;
  }

  takeRefusal(): boolean {
    if (this.refusals === 0) return false;
    this.refusals--;
    return true;
  }

  /** Counts a Flag payload if it is ConnectToPortError (its stream's FIN follows). */
  protected noteFlag(payload: Buffer): void {
    if (decodeFlag(payload) !== FlagCode.ConnectToPortError) return;
    this.refusals++;
    this.emit('refused');
  }
}
