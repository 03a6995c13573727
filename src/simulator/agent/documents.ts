import { parseGoBool } from '../../protocol/parse-bool.ts';
import { compareAgentVersions } from '../../protocol/version.ts';
import { commandExecutor, goQuote, resolveProgram } from './command-exec.ts';
import { NonInteractiveCommandSession } from './command-session.ts';
import { createPortSession, LOCAL_PORT_FORWARDING } from './port-session.ts';
import { ShellSession } from './shell-session.ts';
import { ExecutorFailure } from './start-failure.ts';
import { ECS_EXEC_DOCUMENT } from '../ecs.ts';
import type { PluginContext, SessionPlugin, SessionType } from './session-plugin.ts';

/**
 * Session documents the simulated agent understands, keyed by StartSession DocumentName:
 * the default shell, the three Port documents (AWS-StartPortForwardingSession,
 * ...ToRemoteHost, AWS-StartSSHSession), AWS-StartInteractiveCommand,
 * AWS-StartNonInteractiveCommand and the ECS exec document. Each entry gives its session
 * type, whether it handshakes without KMS (§5.2), its handshake properties and a plugin
 * factory. KMS encryption comes from the session preferences, not from the document.
 */
export interface SessionDocument {
  readonly sessionType: SessionType;
  /** Whether the agent performs a handshake even without KMS (§5.2). */
  readonly handshake: boolean;
  /** Properties for the SessionType action (null for shell-like types, §4.4). */
  properties(parameters: Readonly<Record<string, readonly string[]>>): Record<string, string> | null;
  /**
   * Checks StartSession `Parameters` against the document; returns an error message for
   * the API's InvalidParameters answer, or undefined when they are fine.
   */
  validateParameters?(parameters: Readonly<Record<string, readonly string[]>>): string | undefined;
  /**
   * A failure the agent finds in the properties before its handshake (sessionplugin.go),
   * as the text the session fails with; undefined when there is none.
   */
  preflight?(parameters: Readonly<Record<string, readonly string[]>>): string | undefined;
  /** Text for HandshakeComplete.CustomerMessage, given the client's version (§11.3). */
  customerMessage?(clientVersion: string, parameters: Readonly<Record<string, readonly string[]>>): string;
  createPlugin(context: PluginContext): SessionPlugin;
}

/** What the service uses when StartSession names no document. */
export const DEFAULT_DOCUMENT = 'SSM-SessionManagerRunShell';

const standardShell: SessionDocument = {
  sessionType: 'Standard_Stream',
  handshake: false, // plain shells skip the handshake unless KMS is on (§11.3)
  properties: () => null,
  createPlugin: (context) => new ShellSession(context),
};

/** One document parameter: its default (undefined: required) and whether it is optional. */
interface ParameterSpec {
  readonly defaultValue: string | undefined;
  /** Optional without a default: passed through to the properties only when given. */
  readonly passThrough?: boolean;
}

/**
 * A Port document (§7.3.1): the SessionType action's properties are the document's
 * `properties` with its parameters substituted, all strings. `type` is
 * LocalPortForwarding for the port-forwarding documents and absent for SSH, which makes
 * the SSH session standard-stream/basic on both sides. localUnixSocket and
 * localConnectionType are accepted and passed through for the client (the agent ignores
 * them).
 */
function portDocument(parameters: Readonly<Record<string, ParameterSpec>>, type: string | undefined): SessionDocument {
  const value = (given: Readonly<Record<string, readonly string[]>>, name: string): string | undefined =>
    given[name]?.[0] ?? parameters[name]?.defaultValue;
  const properties = (given: Readonly<Record<string, readonly string[]>>): Record<string, string> => {
    const result: Record<string, string> = {};
    for (const [name, spec] of Object.entries(parameters)) {
      const v = value(given, name);
      if (v !== undefined || !spec.passThrough) result[name] = v ?? '';
    }
    if (type !== undefined) result.type = type;
    return result;
  };
  return {
    sessionType: 'Port',
    handshake: true, // always, and never KMS (§5.2)
    validateParameters(given) {
      for (const [name, list] of Object.entries(given)) {
        if (!(name in parameters)) return `Parameter "${name}" is not defined in the document.`;
        if (list.length > 1) return `Parameter "${name}" takes a single value.`;
      }
      for (const [name, spec] of Object.entries(parameters)) {
        if (spec.defaultValue === undefined && !spec.passThrough && value(given, name) === undefined) {
          return `Parameter "${name}" is required.`;
        }
      }
      return undefined;
    },
    properties: (given) => properties(given),
    createPlugin: (context) => createPortSession(context, properties(context.parameters)),
  };
}

const LOCAL_LISTENER_PARAMETERS: Readonly<Record<string, ParameterSpec>> = {
  localPortNumber: { defaultValue: '0' },
  localUnixSocket: { defaultValue: undefined, passThrough: true },
  localConnectionType: { defaultValue: undefined, passThrough: true },
};

const portForwarding = portDocument(
  { portNumber: { defaultValue: '80' }, ...LOCAL_LISTENER_PARAMETERS },
  LOCAL_PORT_FORWARDING,
);
const portForwardingToRemoteHost = portDocument(
  { host: { defaultValue: undefined }, portNumber: { defaultValue: '80' }, ...LOCAL_LISTENER_PARAMETERS },
  LOCAL_PORT_FORWARDING,
);
const sshSession = portDocument({ portNumber: { defaultValue: '22' } }, undefined);

/** Checks that only known parameters, each with one value, are given, and required ones are. */
function checkParameters(
  given: Readonly<Record<string, readonly string[]>>,
  known: Readonly<Record<string, ParameterSpec>>,
): string | undefined {
  for (const [name, list] of Object.entries(given)) {
    if (!(name in known)) return `Parameter "${name}" is not defined in the document.`;
    if (list.length > 1) return `Parameter "${name}" takes a single value.`;
  }
  for (const [name, spec] of Object.entries(known)) {
    if (spec.defaultValue === undefined && !spec.passThrough && given[name]?.[0] === undefined) {
      return `Parameter "${name}" is required.`;
    }
  }
  return undefined;
}

const COMMAND_PARAMETERS: Readonly<Record<string, ParameterSpec>> = { command: { defaultValue: undefined } };

/**
 * InteractiveCommands (§7.2): the command runs in a pty like a shell, with input and
 * resize; no handshake unless KMS is on. Also used for ECS exec sessions. On an instance
 * the agent runs `sh -c <command>`; in a container it splits the command and executes the
 * first word (agent/session/shell/shell_unix.go). A command it cannot start fails the
 * session after 2 s with `Unable to start command: …` (shell.go, execute).
 */
const interactiveCommand: SessionDocument = {
  sessionType: 'InteractiveCommands',
  handshake: false,
  properties: () => null,
  validateParameters: (given) => checkParameters(given, COMMAND_PARAMETERS),
  createPlugin: (context) => {
    const made = commandExecutor(context.parameters.command?.[0] ?? '', { viaShell: !context.containerMode });
    if (!made.ok) return new ExecutorFailure(context, 'crash' in made ? undefined : made.error, { toChannel: false });
    const program = resolveProgram(made.executor.file, process.env);
    if ('error' in program) return new ExecutorFailure(context, `Failed to start pty: ${program.error}\n`, { toChannel: false });
    return new ShellSession(context, { file: program.file, args: made.executor.args });
  },
};

const NON_INTERACTIVE_PARAMETERS: Readonly<Record<string, ParameterSpec>> = {
  command: { defaultValue: undefined },
  separateOutputStream: { defaultValue: 'false' },
  stdOutSeparatorPrefix: { defaultValue: '' },
  stdErrSeparatorPrefix: { defaultValue: '' },
};
/** 0–30 characters of [0-9a-zA-Z\r\n_:-] (§7.2). */
const SEPARATOR_PREFIX = /^[0-9a-zA-Z\r\n_:-]{0,30}$/;
/**
 * Clients at or below this version get an update notice with separate streams
 * (agent/session/datachannel/datachannel.go, buildHandshakeCompletePayload).
 */
export const SEPARATE_STREAMS_MIN_UNSUPPORTED_CLIENT = '1.2.295';
export const SEPARATE_STREAMS_UPDATE_NOTICE =
  'Please update session manager plugin version (minimum required version 1.2.312.0) ' +
  'for fully support of separate StdOut/StdErr output.\r\n';

/**
 * separateOutputStream as the agent reads it (parameters.ConvertToBool): empty is false,
 * anything else goes through Go's strconv.ParseBool; undefined for what it rejects.
 */
export function parseSeparateOutputStream(parameters: Readonly<Record<string, readonly string[]>>): boolean | undefined {
  const value = parameters.separateOutputStream?.[0] ?? '';
  return value === '' ? false : parseGoBool(value);
}

export function isSeparateOutputStream(parameters: Readonly<Record<string, readonly string[]>>): boolean {
  return parseSeparateOutputStream(parameters) === true;
}

/**
 * NonInteractiveCommands (§7.2, §11.5): always a handshake (Properties null); the command
 * runs without a pty; optional separate stdout/stderr streams with chunk prefixes.
 */
const nonInteractiveCommand: SessionDocument = {
  sessionType: 'NonInteractiveCommands',
  handshake: true,
  properties: () => null,
  validateParameters(given) {
    const invalid = checkParameters(given, NON_INTERACTIVE_PARAMETERS);
    if (invalid !== undefined) return invalid;
    for (const name of ['stdOutSeparatorPrefix', 'stdErrSeparatorPrefix']) {
      const value = given[name]?.[0];
      if (value !== undefined && !SEPARATOR_PREFIX.test(value)) {
        return `Parameter "${name}" must be 0 to 30 characters of [0-9a-zA-Z\\r\\n_:-].`;
      }
    }
    return undefined;
  },
  preflight(parameters) {
    if (parseSeparateOutputStream(parameters) !== undefined) return undefined;
    const value = goQuote(parameters.separateOutputStream?.[0] ?? '');
    return (
      'Fail to get separateOutPutStream property: unable to convert separateOutPutStream: ' +
      `invalid input strconv.ParseBool: parsing ${value}: invalid syntax`
    );
  },
  customerMessage(clientVersion, parameters) {
    return isSeparateOutputStream(parameters) &&
      compareAgentVersions(clientVersion, SEPARATE_STREAMS_MIN_UNSUPPORTED_CLIENT) <= 0
      ? SEPARATE_STREAMS_UPDATE_NOTICE
      : '';
  },
  createPlugin: (context) => {
    // Never through a shell: the words of the command are executed (shell_unix.go).
    const made = commandExecutor(context.parameters.command?.[0] ?? '', { viaShell: false });
    if (!made.ok) return new ExecutorFailure(context, 'crash' in made ? undefined : made.error, { toChannel: true });
    return new NonInteractiveCommandSession(context, {
      executor: made.executor,
      separateOutputStream: isSeparateOutputStream(context.parameters),
      stdOutSeparatorPrefix: context.parameters.stdOutSeparatorPrefix?.[0] ?? '',
      stdErrSeparatorPrefix: context.parameters.stdErrSeparatorPrefix?.[0] ?? '',
    });
  },
};

const documents = new Map<string, SessionDocument>([
  [DEFAULT_DOCUMENT, standardShell],
  ['AWS-StartInteractiveCommand', interactiveCommand],
  ['AWS-StartNonInteractiveCommand', nonInteractiveCommand],
  [ECS_EXEC_DOCUMENT, interactiveCommand],
  ['AWS-StartPortForwardingSession', portForwarding],
  ['AWS-StartPortForwardingSessionToRemoteHost', portForwardingToRemoteHost],
  ['AWS-StartSSHSession', sshSession],
]);

export function findDocument(name: string | undefined): SessionDocument | undefined {
  return documents.get(name ?? DEFAULT_DOCUMENT);
}

/** Adds or replaces a document (used by later session types and by tests). */
export function registerDocument(name: string, document: SessionDocument): void {
  documents.set(name, document);
}
