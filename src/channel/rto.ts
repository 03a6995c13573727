/**
 * Retransmission timeout estimator of PROTOCOL.md §6.4 (RFC 6298 style), in
 * milliseconds. Samples are taken from the last send of a frame, not the first, so a
 * resent frame does not inflate the estimate (official quirk Q1).
 */
export class RtoEstimator {
  static readonly INITIAL_SRTT_MS = 100;
  static readonly INITIAL_RTO_MS = 200;
  static readonly CLOCK_GRANULARITY_MS = 10;
  static readonly MAX_RTO_MS = 1000;

  srtt = RtoEstimator.INITIAL_SRTT_MS;
  rttvar = 0;
  rto = RtoEstimator.INITIAL_RTO_MS;

  /** A retransmission timeout fired: back off until the next sample (RFC 6298 §5.5). */
  backoff(): void {
    this.rto = Math.min(this.rto * 2, RtoEstimator.MAX_RTO_MS);
  }

  sample(rttMs: number): void {
    const rtt = Math.max(0, rttMs);
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
    this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    const rto = this.srtt + Math.max(RtoEstimator.CLOCK_GRANULARITY_MS, 4 * this.rttvar);
    this.rto = Math.min(rto, RtoEstimator.MAX_RTO_MS);
  }
}
