import { EventEmitter } from 'node:events';
import { FlagCode } from '../../protocol/constants.ts';
import { decodeFlag } from '../../protocol/payloads.ts';

/** The ConnectToPortError bookkeeping both stream modes share; emits 'refused' for each. */
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
