import type { HandlerContext } from '../session-handler.ts';
import { terminateFlagSupported } from './port-mode.ts';

/**
 * Bytes the smux streams together may hold for slow local readers before the channel
 * stops reading the connection; smux v1 has no per-stream flow control, so this is
 * what lets one stalled reader wait without stalling the others at once.
 *
 * 1 MiB, not the official client's 4 MiB (its smux MaxReceiveBuffer): the local socket
 * buffers of the kernel come on top of it, and bytes that wait here long enough are
 * promoted to V8's old generation, where they linger as garbage until a full GC. With a
 * reader at 20 MB/s behind a 256 MiB download the plugin's private memory peaked at
 * ~100-120 MiB with 4 MiB here and ~45 MiB with 1 MiB, at the same throughput
 * (scripts/bench-port.mjs).
 */
export const MUX_RECEIVE_LIMIT = 1024 * 1024;

/** Signals that end a port session (the official client catches the first three). */
export function isTerminateSignal(name: NodeJS.Signals): boolean {
  return name === 'SIGINT' || name === 'SIGTSTP' || name === 'SIGQUIT' || name === 'SIGTERM' || name === 'SIGHUP';
}

/**
 * A port session's answer to a signal: a terminate signal ends it with the TerminateSession
 * flag (when the agent understands it; every mux-mode agent does) and the API call.
 * `announce` prints the official `Terminate signal received, exiting.` first. True when handled.
 */
export function endOnTerminateSignal(context: HandlerContext, name: NodeJS.Signals, announce: boolean): boolean {
  if (!isTerminateSignal(name)) return false;
  if (announce) context.notice('Terminate signal received, exiting.\n');
  context.end({ reason: `${name} received`, terminateFlag: terminateFlagSupported(context.agentVersion), terminateApi: true });
  return true;
}
