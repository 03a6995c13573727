import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { BasicPortHandler } from './basic-port-handler.ts';
import { MuxPortHandler } from './mux-port-handler.ts';
import { selectPortMode, smuxKeepAliveWanted } from './port-mode.ts';
import { StreamPortHandler } from './stream-port-handler.ts';

/** The Port session handler for the mode both sides will pick (§7.3.2). */
export function createPortHandler(context: HandlerContext): SessionHandler {
  const mode = selectPortMode(context.properties, context.agentVersion);
  context.logger.debug(`port session in ${mode} mode (agent ${context.agentVersion || 'unknown'})`);
  switch (mode) {
    case 'basic':
      return new BasicPortHandler(context);
    case 'mux':
      return new MuxPortHandler(context, { keepAlive: smuxKeepAliveWanted(context.agentVersion) });
    case 'stream':
      return new StreamPortHandler(context);
  }
}
