import { isVersionAbove } from '../../protocol/version.ts';

export type PortMode = 'basic' | 'mux' | 'stream';

/**
 * The forwarding mode, decided exactly as the official client does (§7.3.2). The agent
 * decides independently from our ClientVersion (≥ 1.1.70 means mux), so both agree as
 * long as we report a current version.
 */
export function selectPortMode(properties: Record<string, unknown> | null, agentVersion: string): PortMode {
  if (properties?.type !== 'LocalPortForwarding') return 'stream';
  return isVersionAbove(agentVersion, '3.0.196.0') ? 'mux' : 'basic';
}

/** smux keep-alive is used only with agents at or below 3.1.1511.0. */
export function smuxKeepAliveWanted(agentVersion: string): boolean {
  return !isVersionAbove(agentVersion, '3.1.1511.0');
}

/** Basic-mode agents above 2.3.722.0 understand the TerminateSession flag. */
export function terminateFlagSupported(agentVersion: string): boolean {
  return isVersionAbove(agentVersion, '2.3.722.0');
}
