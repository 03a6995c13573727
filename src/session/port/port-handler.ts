import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { BasicStreamHandler } from './basic-stream-handler.ts';
import { ListenerPortHandler } from './listener-port-handler.ts';
import { MuxStreamHandler } from './mux-stream-handler.ts';
import { selectPortMode, smuxKeepAliveWanted } from './port-mode.ts';
import type { StreamHandler } from './stream-handler.ts';
import { StreamPortHandler } from './stream-port-handler.ts';

/** The stream handler for the mode both sides will pick (§7.3.2); `stream` sessions get one stream that ends the session. */
export function createStreamHandler(context: HandlerContext): StreamHandler {
  const mode = selectPortMode(context.properties, context.agentVersion);
  context.logger.debug(`port session in ${mode} mode (agent ${context.agentVersion || 'unknown'})`);
  if (mode === 'mux') return new MuxStreamHandler(context, { keepAlive: smuxKeepAliveWanted(context.agentVersion) });
  return new BasicStreamHandler(context, { reusable: mode === 'basic' });
}

/**
 * The plugin's Port session handler: LocalPortForwarding sessions get a local listener
 * over the stream handler; the others (e.g. AWS-StartSSHSession) use stdin and stdout.
 */
export function createPortHandler(context: HandlerContext): SessionHandler {
  if (selectPortMode(context.properties, context.agentVersion) === 'stream') return new StreamPortHandler(context);
  return new ListenerPortHandler(context, createStreamHandler(context));
}
