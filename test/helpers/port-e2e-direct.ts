// The usual start of a port-forwarding end-to-end test (helpers/port-e2e.ts): the set-up,
// then the built plugin started directly for AWS-StartPortForwardingSession to the
// destination on an ephemeral local port.
import type { SimulatorOptions } from '../../src/simulator/index.ts';
import { directSession, FORWARD, openedPort, setup, type TestContext } from './port-e2e.ts';
import { portRequest } from './port-session.ts';

/** Resolves once the plugin says which local port it opened. */
export async function directForward(t: TestContext, options: SimulatorOptions = {}) {
  const s = await setup(t, options);
  const request = portRequest(FORWARD, { portNumber: String(s.dest.port), localPortNumber: '0' });
  const { sessionId, plugin } = await directSession(t, s, request);
  const port = await openedPort(plugin);
  return { s, sessionId, plugin, port };
}
