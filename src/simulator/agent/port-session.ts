import { BasicPortSession } from './port-basic.ts';
import { selectAgentPortMode, type PortProperties, type PortSession } from './port-mode.ts';
import { MuxPortSession } from './port-mux.ts';
import type { PluginContext } from './session-plugin.ts';

/**
 * Port sessions on the simulated agent (PROTOCOL.md §7.3, §11.6, §11.7; the agent's
 * agent/session/plugins/port/port.go, port_basic.go, port_mux.go):
 *
 * * the mode, chosen from versions as the agent does: port-mode.ts;
 * * basic mode (port_basic.go): port-basic.ts;
 * * mux mode (port_mux.go): port-mux.ts;
 * * the dial policy (destination, deny list, dial errors; port.go): port-dial.ts;
 * * the paced output and the task result both modes share: port-output.ts.
 *
 * The port plugin never reports agent_session_state Terminating: the session simply ends
 * with its task result (failure texts as the agent sets them).
 *
 * Destination → client bytes go through the agent's paced read loop (OutputPump): at most
 * 1024 bytes per frame and, with pacing on, a 1 ms sleep between reads.
 */

export {
  agentSmuxKeepAlive,
  LAST_AGENT_WITHOUT_MUX,
  LOCAL_PORT_FORWARDING,
  MUX_MIN_CLIENT_VERSION,
  selectAgentPortMode,
  SMUX_KEEPALIVE,
  SMUX_KEEPALIVE_OFF_ABOVE_CLIENT,
  type AgentPortMode,
  type PortProperties,
  type PortSession,
} from './port-mode.ts';
export { DENIED_REMOTE_IPS, dialDestination, isForbiddenAddress, PortStartError, resolveDestination, type Destination } from './port-dial.ts';
export { BasicPortSession } from './port-basic.ts';
export { MuxPortSession } from './port-mux.ts';

export function createPortSession(context: PluginContext, properties: PortProperties): PortSession {
  const mode = selectAgentPortMode(properties, context.clientVersion, context.settings.agentVersion);
  return mode === 'mux' ? new MuxPortSession(context, properties) : new BasicPortSession(context, properties);
}
