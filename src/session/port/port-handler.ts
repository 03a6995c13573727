import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { ListenerPortHandler } from './listener-port-handler.ts';
import { selectPortMode } from './port-mode.ts';
import { createStreamHandler } from './port-streams.ts';
import { StdioPortHandler } from './stdio-port-handler.ts';

/**
 * The plugin's Port session handler, i.e. its local endpoint: LocalPortForwarding
 * sessions get a listener over the shared stream handler; the others (e.g.
 * AWS-StartSSHSession as an ssh ProxyCommand) use stdin and stdout.
 */
export function createPortHandler(context: HandlerContext): SessionHandler {
  if (selectPortMode(context.properties, context.agentVersion) === 'stream') {
    context.logger.debug(`port session in stream mode over stdin/stdout (agent ${context.agentVersion || 'unknown'})`);
    return new StdioPortHandler(context);
  }
  return new ListenerPortHandler(context, createStreamHandler(context));
}
