/**
 * The signals both CLIs pass on to a running session, which decides what each means
 * (a shell forwards Ctrl-C and friends, a port session ends). The AWS CLI starts the
 * plugin with SIGINT, SIGQUIT and SIGTSTP ignored; listening re-enables them.
 */
export const SESSION_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGTSTP', 'SIGTERM', 'SIGHUP'];

/** What signals are listened on: the process, or a stand-in in tests. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (name: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (name: NodeJS.Signals) => void): unknown;
}

/**
 * Calls `handler` with the name of each of `names` the process receives, until the returned
 * function is called. On Windows Ctrl-Break arrives as SIGBREAK; it is passed on as SIGINT,
 * which is what Go's os.Interrupt makes of it for the official plugin. (Windows raises neither
 * SIGTERM, SIGQUIT nor SIGTSTP; closing the console window raises SIGHUP.)
 */
export function onSignals(
  names: readonly NodeJS.Signals[],
  handler: (name: NodeJS.Signals) => void,
  platform: NodeJS.Platform = process.platform,
  source: SignalSource = process,
): () => void {
  const listeners: Array<[NodeJS.Signals, (name: NodeJS.Signals) => void]> = names.map((name) => [name, () => handler(name)]);
  if (platform === 'win32' && names.includes('SIGINT')) listeners.push(['SIGBREAK', () => handler('SIGINT')]);
  for (const [name, listener] of listeners) source.on(name, listener);
  return () => {
    for (const [name, listener] of listeners) source.off(name, listener);
  };
}
