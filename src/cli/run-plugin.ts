import { CLIENT_VERSION } from '../protocol/constants.ts';
import { startLoadingRootStore } from '../net/tls-trust.ts';
import { processIO } from '../session/io.ts';
import { INSTALL_CHECK_TEXT, parseInvocation, unknownOperationText } from './invocation.ts';
import type { PluginEnvironment } from './plugin-environment.ts';

/**
 * The whole plugin behind argv: returns the exit status. Like the official plugin it
 * exits 0 on every handled path, except that failures may exit non-zero when the
 * response came through the environment: only then is the AWS CLI's "returned non-zero
 * exit status" message (which repeats argv) free of the session token.
 */
export async function runPlugin(args: readonly string[], environment: PluginEnvironment): Promise<number> {
  const { env, io } = environment;
  const invocation = parseInvocation(args, env);
  switch (invocation.kind) {
    case 'install-check':
      io.stdout.write(INSTALL_CHECK_TEXT);
      return 0;
    case 'version':
      io.stdout.write(`${CLIENT_VERSION}\n`);
      return 0;
    case 'unknown-operation':
      io.stdout.write(unknownOperationText(invocation.operation));
      return 0;
    case 'invalid-operation':
      io.stdout.write('Invalid Operation');
      return 0;
    case 'bad-input':
      io.stderr.write(`Cannot perform start session: ${invocation.message}\n`);
      return invocation.responseFromEnv ? 1 : 0;
    case 'start': {
      // Before the session's modules evaluate, so that Node's load of the root store overlaps it.
      if (/^wss:/i.test(invocation.request.streamUrl)) startLoadingRootStore();
      // Loaded only here, so --version and the install check stay fast.
      const { startSession } = await import('./start-session.ts');
      return startSession(invocation.request, invocation.responseFromEnv, environment);
    }
  }
}

export { processIO };
export type { PluginEnvironment } from './plugin-environment.ts';
