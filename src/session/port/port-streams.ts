import type { HandlerContext } from '../session-handler.ts';
import { BasicStreamHandler } from './basic-stream-handler.ts';
import { MuxStreamHandler } from './mux-stream-handler.ts';
import { selectPortMode, smuxKeepAliveWanted } from './port-mode.ts';
import type { StreamHandler } from './stream-handler.ts';

/**
 * The stream handler for the mode both sides will pick (§7.3.2), for the plugin's
 * listener and the library alike; `stream` sessions (not LocalPortForwarding) get one
 * basic-mode stream whose close ends the session.
 */
export function createStreamHandler(context: HandlerContext): StreamHandler {
  const mode = selectPortMode(context.properties, context.agentVersion);
  context.logger.debug(`port session in ${mode} mode (agent ${context.agentVersion || 'unknown'})`);
  if (mode === 'mux') return new MuxStreamHandler(context, { keepAlive: smuxKeepAliveWanted(context.agentVersion) });
  return new BasicStreamHandler(context, { reusable: mode === 'basic' });
}
