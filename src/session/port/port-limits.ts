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
