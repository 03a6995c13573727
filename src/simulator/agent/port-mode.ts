import { compareAgentVersions } from '../../protocol/version.ts';
import type { SmuxKeepAliveOptions } from '../../smux/session.ts';
import type { SessionPlugin } from './session-plugin.ts';

// Which port mode the agent runs, and with which smux settings, decided from versions as
// the agent decides it (§7.3.2), never by the client's rule.

export type AgentPortMode = 'basic' | 'mux';

/** Port-session properties as they appear in the SessionType action (all strings). */
export type PortProperties = Readonly<Record<string, string>>;

/** The newest agent version without smux: such agents are basic whatever the client says. */
export const LAST_AGENT_WITHOUT_MUX = '3.0.196.0';
/** The agent uses mux for clients at or above this version (§7.3.2). */
export const MUX_MIN_CLIENT_VERSION = '1.1.70';
/** The agent turns smux keep-alive off for clients above this version (§7.3.2). */
export const SMUX_KEEPALIVE_OFF_ABOVE_CLIENT = '1.2.331.0';
export const SMUX_KEEPALIVE: SmuxKeepAliveOptions = { intervalMs: 10_000, timeoutMs: 30_000 };
export const LOCAL_PORT_FORWARDING = 'LocalPortForwarding';

/** Decides the mode exactly as the agent does: from the ClientVersion, not the client's rule. */
export function selectAgentPortMode(
  properties: PortProperties,
  clientVersion: string | undefined,
  agentVersion: string,
): AgentPortMode {
  if (properties.type !== LOCAL_PORT_FORWARDING) return 'basic';
  // A real agent this old has no mux code at all.
  if (compareAgentVersions(agentVersion, LAST_AGENT_WITHOUT_MUX) <= 0) return 'basic';
  return compareAgentVersions(clientVersion ?? '', MUX_MIN_CLIENT_VERSION) >= 0 ? 'mux' : 'basic';
}

/** Whether the agent's smux server runs keep-alive for this client (§7.3.2). */
export function agentSmuxKeepAlive(clientVersion: string | undefined): boolean {
  return compareAgentVersions(clientVersion ?? '', SMUX_KEEPALIVE_OFF_ABOVE_CLIENT) <= 0;
}

export interface PortSession extends SessionPlugin {
  readonly mode: AgentPortMode;
  readonly properties: PortProperties;
  /** How many destination connections were opened so far. */
  readonly dials: number;
}
