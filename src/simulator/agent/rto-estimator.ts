/**
 * The agent's retransmission-timeout estimator (PROTOCOL.md §6.4). All values are in
 * milliseconds; the agent itself works in float nanoseconds, which gives the same numbers.
 *
 * Kept apart from the client's src/channel/rto.ts on purpose: the simulator models the real
 * agent and imports no client code (test/dependency-rules.test.ts), so that a mistake in
 * the client cannot be mirrored here and pass its own tests. Should the two ever differ,
 * this one follows the agent's source.
 */
export const INITIAL_SRTT_MS = 100;
export const INITIAL_RTO_MS = 200;
export const CLOCK_GRANULARITY_MS = 10;
export const MAX_RTO_MS = 1000;
const RTT_ALPHA = 1 / 8;
const RTTVAR_BETA = 1 / 4;

export class RtoEstimator {
  srtt = INITIAL_SRTT_MS;
  rttvar = 0;
  rto = INITIAL_RTO_MS;

  /** Folds one round-trip sample in; RTTVAR uses the old SRTT, as in the agent. */
  addSample(sampleMs: number): void {
    this.rttvar = (1 - RTTVAR_BETA) * this.rttvar + RTTVAR_BETA * Math.abs(this.srtt - sampleMs);
    this.srtt = (1 - RTT_ALPHA) * this.srtt + RTT_ALPHA * sampleMs;
    this.rto = Math.min(this.srtt + Math.max(CLOCK_GRANULARITY_MS, 4 * this.rttvar), MAX_RTO_MS);
  }
}
