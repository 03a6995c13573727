import type { Forward, ForwardPortOptions } from './forward-types.ts';
import { ClientError } from './errors.ts';

/** Placeholder until the pool lands. */
export async function forwardPort(options: ForwardPortOptions): Promise<Forward> {
  throw new ClientError('invalid-argument', `forwardPort is not implemented yet (${options.target})`);
}
