import { forwardPort, startSocksProxy, type Forward, type ForwardEvent } from '../../client/index.ts';
import type { Command } from '../args.ts';
import { hostPort } from '../forward-spec.ts';
import { awsOptions, targetFor } from '../session-runner.ts';
import { formatForward } from '../status-format.ts';
import { StatusLine, statusMode } from '../status-line.ts';
import { onSignals } from '../../util/signals.ts';

type ForwardCommand = Extract<Command, { kind: 'forward' }>;

/** Closing (TerminateSession for every session) gets this long; a second signal leaves at once. */
const CLOSE_WAIT_MS = 5000;
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** One listener and what the status line needs to know of it. */
interface Listener {
  label: string;
  /** The line printed once it listens. */
  announcement: string;
  forward: Forward;
  /** State of each running session, by session id. */
  states: Map<string, string>;
}

/**
 * `ssm-session forward TARGET -L ... -D ...`: every listener at once, each with its own
 * session pool. Runs until SIGINT, SIGTERM or SIGHUP; sessions that end on the way only
 * reset their connections, the listeners stay.
 */
export async function forward(command: ForwardCommand): Promise<number> {
  const { global } = command;
  const target = await targetFor(command.target, global, 'forward');
  const pool = { maxSessions: command.pool, ...(command.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: command.idleTimeoutMs }) };
  const common = { target, aws: awsOptions(global), pool };
  const listeners: Listener[] = [];
  try {
    for (const spec of command.locals) {
      const forward = await forwardPort({ ...common, bind: spec.bind, localPort: spec.localPort, port: spec.port, ...(spec.host ? { host: spec.host } : {}) });
      const local = hostPort(forward.address.address, forward.address.port);
      const destination = hostPort(spec.host ?? 'localhost', spec.port);
      listeners.push({ label: `${local}->${destination}`, announcement: `Forwarding ${local} -> ${destination} via ${target}`, forward, states: new Map() });
    }
    for (const spec of command.socks) {
      const forward = await startSocksProxy({ ...common, bind: spec.bind, port: spec.port });
      const local = hostPort(forward.address.address, forward.address.port);
      listeners.push({ label: `socks ${local}`, announcement: `SOCKS5 proxy on ${local} via ${target}`, forward, states: new Map() });
    }
  } catch (err) {
    await Promise.allSettled(listeners.map(({ forward }) => forward.close()));
    throw err;
  }

  // Where each listener is, on stdout: with port 0 this is how a script learns the port.
  if (!global.quiet) process.stdout.write(listeners.map(({ announcement }) => `${announcement}\n`).join(''));

  const status = new StatusLine(process.stderr, statusMode(process.stderr, global), () =>
    listeners.map(({ label, forward, states }) => formatForward({ label, states: states.values(), ...forward.stats })).join(' | '),
  );
  for (const listener of listeners) {
    listener.forward.on('event', (event: ForwardEvent) => {
      const text = track(listener, event);
      if (text !== undefined && !global.quiet) status.message(`${listener.label}: ${text}`);
    });
  }
  status.start();
  await stopSignal();
  status.stop();
  await Promise.race([
    Promise.allSettled(listeners.map(({ forward }) => forward.close())),
    new Promise<void>((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref()),
    stopSignal(),
  ]);
  return 0;
}

/** Keeps the session states up to date; returns the message worth showing for an event, if any. */
function track(listener: Listener, event: ForwardEvent): string | undefined {
  switch (event.type) {
    case 'session-started':
      // A pooled session is reported once it is ready; a state seen before stays.
      if (!listener.states.has(event.sessionId)) listener.states.set(event.sessionId, 'connected');
      return undefined;
    case 'session-state':
      if (event.state === 'closed') listener.states.delete(event.sessionId);
      else listener.states.set(event.sessionId, event.state);
      return event.state === 'reconnecting' ? `session ${event.sessionId} lost its connection; resuming it` : undefined;
    case 'session-closed':
      listener.states.delete(event.sessionId);
      return event.outcome.status === 'failed' || event.outcome.status === 'closed' ? `session ${event.sessionId} ${event.reason}` : undefined;
    case 'failure':
      return event.message;
    default:
      return undefined;
  }
}

/** Resolves at the next SIGINT (or Ctrl-Break on Windows), SIGTERM or SIGHUP. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const unlisten = onSignals(STOP_SIGNALS, () => {
      unlisten();
      resolve();
    });
  });
}
