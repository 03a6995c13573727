import type { HandlerContext, SessionHandler } from './session-handler.ts';
import type { SessionType } from './handshake.ts';
import { ShellHandler } from './shell-handler.ts';
import { createPortHandler } from './port/port-handler.ts';

type HandlerFactory = (context: HandlerContext) => SessionHandler;

/** The built-in handler of each session type (the plugin's: terminal, listener or stdio). */
const BUILT_IN: Record<SessionType, HandlerFactory> = {
  Standard_Stream: (context) => new ShellHandler(context),
  InteractiveCommands: (context) => new ShellHandler(context),
  NonInteractiveCommands: (context) => new ShellHandler(context),
  Port: (context) => createPortHandler(context),
};

/** The built-in handler factory for a session type, or undefined for a type this client does not know. */
export function builtInHandler(sessionType: SessionType | undefined): HandlerFactory | undefined {
  return sessionType ? BUILT_IN[sessionType] : undefined;
}
