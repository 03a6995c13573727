/** Why the agent could not connect a port session to its destination. */
export type DialFailure = 'refused' | 'host-unreachable' | 'network-unreachable' | 'not-allowed';

/**
 * The agent reports a failed dial only in words, as the text it closes a port session
 * with: `Unable to connect to specified port: <Go dial error>` (basic mode, and any
 * mode at start), or `Forwarding to IP address X is forbidden.` This reads those words
 * once, where they arrive, so that callers choose by the code. Undefined: not a dial
 * failure, or one the words do not tell apart.
 */
export function dialFailureOf(agentText: string): DialFailure | undefined {
  if (/connection refused/i.test(agentText)) return 'refused';
  // "missing address": the agent's dial when the host resolved to nothing (port.go, DialCall).
  if (/missing address|no such host|host unreachable|no route to host/i.test(agentText)) return 'host-unreachable';
  if (/network is unreachable/i.test(agentText)) return 'network-unreachable';
  if (/forbidden|not allowed/i.test(agentText)) return 'not-allowed';
  return undefined;
}
