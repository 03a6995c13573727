import { SsmSessionApi } from '../aws/ssm-api.ts';
import { kmsDataKeyGenerator } from '../aws/kms-api.ts';
import { SessionEncryption } from '../session/session-encryption.ts';
import type { SessionIO } from '../session/io.ts';
import { PluginSession } from './plugin-session.ts';
import type { SessionOutcome } from '../session/session-contract.ts';
import { fileLogger, silentLogger, type Logger } from '../util/logger.ts';
import { getFold } from '../protocol/payloads.ts';
import { parseGoBool } from '../protocol/parse-bool.ts';
import { onSignals, SESSION_SIGNALS } from '../util/signals.ts';
import { exitStatus } from '../util/exit-status.ts';
import type { StartRequest } from './invocation.ts';
import type { Liveness } from '../transport/websocket-transport.ts';
import type { PluginEnvironment } from './plugin-environment.ts';

/** Environment variable naming a debug log file (created 0600). */
export const LOG_ENV = 'SESSION_MANAGER_PLUGIN_LOG';
/** Environment variable: milliseconds of silence after which the connection is presumed dead. */
export const LIVENESS_ENV = 'SESSION_MANAGER_PLUGIN_LIVENESS_MS';
const DEFAULT_LIVENESS_MS = 15_000;
/** `official`: print a command's `EXIT_CODE: n` and exit 0, as the official plugin does. */
export const EXIT_CODE_ENV = 'SESSION_MANAGER_PLUGIN_EXIT_CODE';

/** Pings every third of the silence limit, so two lost pongs are tolerated. */
function livenessFrom(env: NodeJS.ProcessEnv): Liveness {
  const configured = Number(env[LIVENESS_ENV]);
  const timeoutMs = Number.isFinite(configured) && configured >= 300 ? configured : DEFAULT_LIVENESS_MS;
  return { intervalMs: Math.round(timeoutMs / 3), timeoutMs };
}

export async function startSession(request: StartRequest, responseFromEnv: boolean, environment: PluginEnvironment): Promise<number> {
  const { io, env } = environment;
  const logger = openLogger(env, io);
  const api = environment.api?.(request) ?? new SsmSessionApi(request);
  const banner = `\nStarting session with SessionId: ${request.sessionId}\n`;
  const encryption = new SessionEncryption({
    sessionId: request.sessionId,
    target: request.target,
    legacy: request.legacy,
    generateDataKey: environment.generateDataKey ?? kmsDataKeyGenerator(request),
  });
  // A non-zero exit makes the AWS CLI print our argv: only safe when it holds no token.
  const exitStatusFromRemote = responseFromEnv && env[EXIT_CODE_ENV] !== 'official';
  const session = new PluginSession({
    ...request,
    io,
    logger,
    api,
    banner,
    encryption,
    exitStatusFromRemote,
    liveness: livenessFrom(env),
  });
  const unlisten = onSignals(SESSION_SIGNALS, (name) => session.signal(name));
  let outcome: SessionOutcome;
  try {
    outcome = await session.run();
  } finally {
    unlisten();
  }
  logger.close();
  const exitCodeExpected = exitStatusFromRemote && session.sessionType === 'NonInteractiveCommands' && separateStreams(request);
  return report(outcome, request.sessionId, responseFromEnv, exitStatusFromRemote, session.notices, io, exitCodeExpected);
}

/**
 * Printed when a command session with separate streams ends without its EXIT_CODE: the
 * agent sends it only while its data channel is active, and its output readers give up
 * when it is paused (agent/session/shell/shell.go), as it is while the connection is down.
 */
export const LOST_EXIT_CODE_MESSAGE =
  "The session ended without the command's exit code (the agent drops it, and stops reading the command's output, " +
  'when its connection is paused or interrupted while the command runs); its output may be incomplete.';

/** separateOutputStream of the request (argv[5]), read as the agent reads it. */
function separateStreams(request: StartRequest): boolean {
  const value = getFold(getFold(request.parameters, 'Parameters'), 'separateOutputStream');
  const text = Array.isArray(value) ? value[0] : value;
  return typeof text === 'string' && parseGoBool(text) === true;
}

function report(
  outcome: SessionOutcome,
  sessionId: string,
  responseFromEnv: boolean,
  exitStatusFromRemote: boolean,
  notices: NodeJS.WritableStream,
  io: SessionIO,
  exitCodeExpected: boolean,
): number {
  switch (outcome.status) {
    case 'closed':
      notices.write(
        outcome.output
          ? `\n\nSessionId: ${sessionId} : ${outcome.output}\n\n`
          : `\n\nExiting session with sessionId: ${sessionId}.\n\n`,
      );
      if (exitCodeExpected && outcome.exitCode === undefined) {
        // With the agent's text already printed, the reason is known; otherwise say what happened.
        if (!outcome.output) io.stderr.write(`${LOST_EXIT_CODE_MESSAGE}\n`);
        return 1;
      }
      return exitStatusFromRemote ? exitStatus(outcome.exitCode) : 0;
    case 'ended':
      notices.write(`\n\nExiting session with sessionId: ${sessionId}.\n\n`);
      return 0;
    case 'failed':
      io.stderr.write(outcome.error.verbatim ? `${outcome.error.message}\n` : `Cannot perform start session: ${outcome.error.message}\n`);
      return responseFromEnv ? 1 : 0;
  }
}

function openLogger(env: NodeJS.ProcessEnv, io: SessionIO): Logger {
  const path = env[LOG_ENV];
  if (!path) return silentLogger;
  try {
    return fileLogger(path);
  } catch (err) {
    io.stderr.write(`Cannot open the debug log ${path}: ${(err as Error).message}\n`);
    return silentLogger;
  }
}

