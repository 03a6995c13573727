import { awsErrorDetail } from '../aws-context.ts';
import { TargetError } from '../target-error.ts';

/** Runs an AWS call; its failure becomes a TargetError naming the call's purpose. */
export async function callAws<T>(purpose: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof TargetError) throw err;
    // No `cause`: SDK errors carry raw responses, which must not end up in a user's log.
    throw new TargetError('lookup-failed', `cannot ${purpose}: ${awsErrorDetail(err)}`);
  }
}
