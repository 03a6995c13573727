import {
  noticeText,
  resolveTarget,
  type AwsOptions,
  type ResolvedTarget,
  type Session,
  type SessionNotice,
  type SessionOutcome,
} from '../client/index.ts';
import type { GlobalOptions } from './args.ts';
import { OutputClosedError, RemoteCommandError, UsageError } from './errors.ts';
import { formatSessionSummary } from './status-format.ts';
import { onSignals, SESSION_SIGNALS } from '../util/signals.ts';

/** The library's AWS options from the command line (undefined fields: SDK defaults). */
export function awsOptions(global: GlobalOptions): AwsOptions {
  const { region, profile, endpoint, ecsEndpoint, ec2Endpoint } = global.aws;
  return {
    ...(region ? { region } : {}),
    ...(profile ? { profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(ecsEndpoint ? { ecsEndpoint } : {}),
    ...(ec2Endpoint ? { ec2Endpoint } : {}),
  };
}

/**
 * The session target for TARGET. Instance ids need no API call; for names, tags and ECS
 * tasks the choice is shown on stderr (unless -q), since it was not typed verbatim. No
 * TARGET: the user picks a managed instance from a list, which needs a terminal (stdin
 * and stderr); elsewhere that is a usage error naming `command`.
 */
export async function targetFor(spec: string | undefined, global: GlobalOptions, command = 'this command'): Promise<string> {
  if (spec === undefined) return (await chosenTarget(global, command)).target;
  return (await resolvedTargetFor(spec, global)).target;
}

/** targetFor, with what the lookup learnt about the target (its platform). */
export async function resolvedTargetFor(spec: string, global: GlobalOptions): Promise<ResolvedTarget> {
  const resolved = await resolveTarget(spec, awsOptions(global));
  if (!global.quiet && resolved.target !== spec) process.stderr.write(`Target ${spec}: ${resolved.label}\n`);
  return resolved;
}

/** A target picked in the terminal, with its label (`i-0123… (web)`). */
export async function chosenTarget(global: GlobalOptions, command: string): Promise<{ target: string; label: string }> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`${command}: no TARGET given (without a terminal there is no picker; see ssm-session list)`);
  }
  const { pickInstance } = await import('./picker.ts');
  const chosen = await pickInstance(awsOptions(global));
  const label = chosen.name ? `${chosen.id} (${chosen.name})` : chosen.id;
  if (!global.quiet) process.stderr.write(`Target: ${label}\n`);
  return { target: chosen.id, label };
}

/** Passes the signals to `session` until the returned function is called. */
export function routeSignals(session: Pick<Session, 'signal'>): () => void {
  return onSignals(SESSION_SIGNALS, (name) => session.signal(name));
}

/**
 * Shows a session's notices on stderr: stdout carries only what the remote side wrote, so
 * `run`'s output stays the command's (the agent's `This session is encrypted using AWS
 * KMS.` included, which the plugin prints on stdout). -q silences all but the connection
 * notices, which tell why the session is stalled.
 */
function showNotice(notice: SessionNotice, global: GlobalOptions): void {
  const connection = notice.kind === 'connection-lost' || notice.kind === 'connection-restored';
  if (connection || !global.quiet) process.stderr.write(noticeText(notice));
}

/**
 * Runs a started session to its end: signals routed, notices shown, `--stats` summary,
 * failures thrown. A stdout closed by its reader ends the session (TerminateSession) and
 * throws OutputClosedError, as a local command would die of SIGPIPE.
 */
export async function runToEnd(session: Session, global: GlobalOptions): Promise<Exclude<SessionOutcome, { status: 'failed' }>> {
  const unroute = routeSignals(session);
  const onNotice = (notice: SessionNotice): void => showNotice(notice, global);
  session.on('notice', onNotice);
  let outputClosed = false;
  const onStdoutError = (): void => {
    outputClosed = true;
    void session.terminate();
  };
  process.stdout.on('error', onStdoutError);
  let outcome: SessionOutcome;
  try {
    outcome = await session.done;
  } finally {
    unroute();
    session.off('notice', onNotice);
    process.stdout.off('error', onStdoutError);
  }
  if (global.stats) process.stderr.write(`${formatSessionSummary({ sessionId: session.sessionId, ...session.stats })}\n`);
  if (outputClosed) throw new OutputClosedError('stdout was closed');
  if (outcome.status === 'failed') throw outcome.error;
  return outcome;
}

/**
 * A session the agent closed with a failure's text (channel_closed Output, e.g. a
 * container without the shell: "Unable to start command: …") is an error for the user.
 */
export function checkAgentOutput(outcome: SessionOutcome): void {
  if (outcome.status === 'closed' && outcome.output.trim()) {
    throw new RemoteCommandError(`the agent ended the session: ${outcome.output.trim()}`);
  }
}
