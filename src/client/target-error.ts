/** Why a target could not be resolved. */
export type TargetErrorReason =
  | 'invalid-spec' // the text is none of the accepted forms
  | 'not-found' // nothing matches
  | 'ambiguous' // several instances (or containers) match
  | 'not-online' // matches exist but none can take a session now
  | 'lookup-failed'; // the AWS call failed (credentials, permissions, network)

/** A managed instance that matched a tag, as listed in an error. */
export interface TargetCandidate {
  id: string;
  pingStatus: string;
  computerName: string | undefined;
  ipAddress: string | undefined;
  platform: string | undefined;
}

/** A target that cannot be used; the message is for the user as it is. */
export class TargetError extends Error {
  readonly reason: TargetErrorReason;
  /** The instances that matched, for 'ambiguous' and 'not-online' (else empty). */
  readonly candidates: readonly TargetCandidate[];

  constructor(reason: TargetErrorReason, message: string, candidates: readonly TargetCandidate[] = []) {
    super(message);
    this.name = 'TargetError';
    this.reason = reason;
    this.candidates = candidates;
  }
}
