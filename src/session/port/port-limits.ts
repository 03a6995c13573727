/**
 * Bytes the smux streams together may hold for slow local readers before the channel
 * stops reading the connection; smux v1 has no per-stream flow control, so this is
 * what lets one stalled reader wait without stalling the others at once.
 */
export const MUX_RECEIVE_LIMIT = 4 * 1024 * 1024;

/** Signals that end a port session (the official client catches the first three). */
export function isTerminateSignal(name: NodeJS.Signals): boolean {
  return name === 'SIGINT' || name === 'SIGTSTP' || name === 'SIGQUIT' || name === 'SIGTERM' || name === 'SIGHUP';
}
