import type { Forward, SocksProxyOptions } from './forward-types.ts';
import { ClientError } from './errors.ts';

/** Placeholder until the pool lands. */
export async function startSocksProxy(options: SocksProxyOptions): Promise<Forward> {
  throw new ClientError('invalid-argument', `startSocksProxy is not implemented yet (${options.target})`);
}
