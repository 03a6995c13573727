import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { Agent } from './agent/agent.ts';
import type { AgentSettings } from './agent/session-plugin.ts';
import { ApiError } from './api-error.ts';
import { FakeEcs } from './ecs.ts';
import { FaultInjector, DIRECTIONS, type Direction } from './faults.ts';
import type { LinkShape } from './link-shaper.ts';
import { Gateway, type PublicationKind } from './gateway.ts';
import { DEFAULT_INSTANCES, INSTANCE_ID_PATTERN, InstanceRegistry, type InstanceSpec } from './instances.ts';
import { FakeKms } from './kms.ts';
import { SessionRegistry, type OpenDataChannelRecord, type SessionPreferences, type SimSession } from './sessions.ts';
import { createSsmApiHandler, type ApiCall } from './ssm-api.ts';
import { dualProtocolServer, throwawayTls } from './tls.ts';
import { WireLog, type WireLogEntry, type WireObserver } from './wire-log.ts';

export type { ApiCall } from './ssm-api.ts';
export type { Direction, DirectionFaults, CloseClientRule } from './faults.ts';
export type { LinkShape } from './link-shaper.ts';
export type { FaultInjector } from './faults.ts';
export type { OpenDataChannelRecord, SessionPreferences, SimSession } from './sessions.ts';
export type { FakeKms, KmsFailure, KmsOperation, EncryptionContext } from './kms.ts';
export type { FakeEcs, EcsTaskSpec } from './ecs.ts';
export type { InstanceRegistry, InstanceSpec, ManagedInstance, PingStatus, PlatformType } from './instances.ts';
export { DEFAULT_INSTANCES, parseInstanceSpec } from './instances.ts';
export type { WrongKeyMode } from './agent/kms-encryption.ts';
export { KMS_CUSTOMER_MESSAGE, CHALLENGE_ACK_REQUIRED_MESSAGE, CHALLENGE_TIMEOUT_MESSAGE } from './agent/kms-encryption.ts';
export { HANDSHAKE_TIMEOUT_MESSAGE } from './agent/handshake.ts';
export { ECS_EXEC_DOCUMENT, ECS_SESSION_ID_PREFIX } from './ecs.ts';
export type { WireLogEntry, WireObserver } from './wire-log.ts';

/** The version the simulated agent reports in handshakes (a current 3.3.x agent). */
export const DEFAULT_AGENT_VERSION = '3.3.987.0';

export interface SimulatorOptions {
  /** TCP port on 127.0.0.1 (default 0: pick a free one). */
  port?: number;
  /**
   * Also speak HTTPS and wss:// on the same port, with a certificate for 127.0.0.1 from a
   * throwaway CA made once per process with `openssl` (default false). StartSession,
   * ResumeSession and ExecuteCommand called over HTTPS return wss:// stream URLs.
   */
  tls?: boolean;
  /** Delay before the agent's first pty read; the real agent waits 1000 ms. */
  shellDelayMs?: number;
  /** The agent's 1 ms sleep between 1024-byte reads (default true, as the real agent). */
  pacing?: boolean;
  agentVersion?: string;
  /** Seed for the fault injector's PRNG. */
  seed?: number;
  /** Working directory of simulated shells (default: the OS temp dir). */
  shellCwd?: string;
  shellPath?: string;
  shellArgs?: string[];
  /** PS1 of simulated shells; the default mimics the (non-root) ssm-user `sh` prompt, e.g. `sh-5.2$ `. */
  shellPrompt?: string;
  /** Pause the agent while no client is attached (default true, see Gateway). */
  pauseAgentWhileDetached?: boolean;
  /** How many frames the wire log keeps (default 10 000; 0 disables the log). */
  frameLogLimit?: number;
  /**
   * Well-formed targets that StartSession reports as TargetNotConnected; instance ids among
   * them are also registered (or marked) as ConnectionLost managed instances.
   */
  disconnectedTargets?: string[];
  /**
   * The managed instances DescribeInstanceInformation lists (default DEFAULT_INSTANCES;
   * `[]` for none). StartSession still accepts any well-formed target that is not
   * registered; a registered one must be Online.
   */
  instances?: InstanceSpec[];
  /**
   * Unsent bytes on a client WebSocket above which the agent's writes count as blocked
   * (default 4 MiB, like a large TCP buffer); its output loops then stop reading.
   */
  clientBufferLimit?: number;
  /**
   * Let port sessions dial destinations that are not loopback addresses (default false:
   * every port-session connection stays on 127.0.0.1 / ::1, and any other resolved
   * address fails the session).
   */
  allowRemoteDestinations?: boolean;
  /**
   * Session preferences: a KMS key id/ARN/alias. When set, the agent requests
   * KMSEncryption for Standard_Stream, InteractiveCommands and NonInteractiveCommands
   * sessions (never Port), which then always handshake (§5.2, §8).
   */
  kmsKeyId?: string;
  /** Newer-agent form: a random `Challenge` in the KMSEncryption action (default true). */
  randomChallenge?: boolean;
  /**
   * Fail clients that do not acknowledge the random challenge with `client does not
   * support required encryption context random challenge` (default false).
   */
  requireChallengeAck?: boolean;
  /** The agent's wait for HandshakeResponse and for EncChallengeResponse (default 15 000 ms). */
  handshakeTimeoutMs?: number;
  /** IAM actions refused with AccessDeniedException, e.g. `ssm:DescribeInstanceInformation`. */
  deniedActions?: string[];
  /**
   * The network path between client and service, per direction (`toAgent` is the
   * client's upload): one-way latency, jitter and a bandwidth limit. Set on the fault
   * injector at start, so `faults.configure()` can change it and `faults.reset()` clears it.
   */
  link?: Partial<Record<Direction, Partial<LinkShape>>>;
}

export interface Simulator {
  /** SSM API endpoint for `--endpoint-url` / SDK `endpoint`, e.g. `http://127.0.0.1:4567`. */
  readonly endpoint: string;
  /** The same over TLS, e.g. `https://127.0.0.1:4567` (with the `tls` option). */
  readonly httpsEndpoint: string | undefined;
  /** The throwaway CA's certificate file (PEM) that vouches for `httpsEndpoint`. */
  readonly caFile: string | undefined;
  readonly port: number;
  /** Live session objects by SessionId (token, status, agent, attached client). */
  readonly sessions: ReadonlyMap<string, SimSession>;
  readonly faults: FaultInjector;
  /**
   * Every API request in arrival order (SSM, KMS, ECS; see `service`), plus the agents'
   * in-process KMS Decrypt calls (`caller: 'agent'`). Key material is never recorded.
   */
  readonly apiCalls: readonly ApiCall[];
  /** The fake KMS (TrentService) behind the endpoint: failNext(), disableKey(), resolveKeyArn(). */
  readonly kms: FakeKms;
  /** The fake ECS behind the endpoint: addTask(), runtimeId(). */
  readonly ecs: FakeEcs;
  /** Managed instances behind DescribeInstanceInformation: add(), remove(), setPingStatus(), list(). */
  readonly instances: InstanceRegistry;
  /** The preferences sessions started from now on get (before any one-shot override). */
  readonly sessionPreferences: Readonly<SessionPreferences>;
  /**
   * Changes the session preferences for sessions started from now on; keys given replace
   * the current ones (`{ kmsKeyId: undefined }` turns KMS off).
   */
  setSessionPreferences(preferences: SessionPreferences): void;
  /** Overrides the preferences for the next started session only (queued, one per session). */
  nextSessionPreferences(preferences: SessionPreferences): void;
  /** Every OpenDataChannel message the gateway received. */
  readonly openDataChannelMessages: readonly OpenDataChannelRecord[];
  /** Recent frames as received by the gateway from either side. */
  readonly frameLog: readonly WireLogEntry[];
  /** Sees every frame crossing the gateway; returns an unsubscribe function. */
  observe(observer: WireObserver): () => void;
  /** Sends pause_publication / start_publication to the client (`toClient`) or the agent. */
  publish(sessionId: string, to: Direction, kind: PublicationKind): void;
  /** Drops the session's client connection abruptly (for reconnect tests). */
  disconnectClient(sessionId: string): void;
  /** Ends a session from the service side, as TerminateSession does. */
  terminateSession(sessionId: string): void;
  /** Kills every shell, closes every socket and the server; leaves no handles behind. */
  close(): Promise<void>;
}

/** Starts the SSM API, the message gateway and the simulated agents on one port. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const settings: AgentSettings = {
    agentVersion: options.agentVersion ?? DEFAULT_AGENT_VERSION,
    shellDelayMs: options.shellDelayMs ?? 1000,
    pacing: options.pacing ?? true,
    shellCwd: options.shellCwd ?? tmpdir(),
    shellPath: options.shellPath ?? '/bin/bash',
    shellArgs: options.shellArgs ?? ['--noprofile', '--norc'],
    shellPrompt: options.shellPrompt ?? 'sh-\\v$ ',
    allowRemoteDestinations: options.allowRemoteDestinations ?? false,
    ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
  };
  let preferences: SessionPreferences = {
    kmsKeyId: options.kmsKeyId,
    randomChallenge: options.randomChallenge ?? true,
    requireChallengeAck: options.requireChallengeAck ?? false,
  };
  const oneShotPreferences: SessionPreferences[] = [];
  const kms = new FakeKms();
  const ecs = new FakeEcs();
  const instances = new InstanceRegistry(settings.agentVersion, options.instances ?? DEFAULT_INSTANCES);
  const disconnectedTargets = options.disconnectedTargets ?? [];
  for (const target of disconnectedTargets) {
    if (INSTANCE_ID_PATTERN.test(target)) instances.setPingStatus(target, 'ConnectionLost');
  }
  const registry = new SessionRegistry();
  const faults = new FaultInjector(options.seed);
  for (const direction of DIRECTIONS) {
    const shape = options.link?.[direction];
    if (shape) faults.configure(direction, shape);
  }
  const wireLog = new WireLog(options.frameLogLimit ?? 10_000);
  const apiCalls: ApiCall[] = [];
  const openDataChannelMessages: OpenDataChannelRecord[] = [];
  const gateway = new Gateway({
    registry,
    faults,
    wireLog,
    openDataChannelMessages,
    pauseAgentWhileDetached: options.pauseAgentWhileDetached ?? true,
    clientBufferLimit: options.clientBufferLimit,
  });
  let port = 0;
  const handler = createSsmApiHandler({
    registry,
    gateway,
    faults,
    apiCalls,
    disconnectedTargets: new Set(disconnectedTargets),
    instances,
    streamUrl: (session, secure) =>
      `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}/v1/data-channel/${session.sessionId}` +
      `?role=publish_subscribe&cell-number=${session.cellNumber}`,
    kms,
    ecs,
    deniedActions: new Set(options.deniedActions ?? []),
    createSession: (spec, document) => {
      const sessionPreferences = { ...preferences, ...oneShotPreferences.shift() };
      const session = registry.create(
        spec,
        (created) =>
          new Agent({
            sessionId: created.sessionId,
            document,
            parameters: spec.parameters,
            settings,
            targetId: spec.target,
            ...(sessionPreferences.kmsKeyId !== undefined
              ? {
                  kms: {
                    keyId: sessionPreferences.kmsKeyId,
                    randomChallenge: sessionPreferences.randomChallenge ?? true,
                    requireChallengeAck: sessionPreferences.requireChallengeAck ?? false,
                    decryptDataKey: (blob: Buffer, context: Record<string, string>, keyId: string) =>
                      agentDecrypt(blob, context, keyId),
                    faults: faults.kmsHooks,
                  },
                }
              : {}),
            send: (frame) => gateway.fromAgent(created, frame),
            transportBlocked: () => gateway.clientBackedUp(created),
            onInputHeld: (held) => gateway.agentInputHeld(created, held),
            onFinished: (result) => gateway.agentFinished(created, result),
          }),
        sessionPreferences,
      );
      gateway.sessionCreated(session);
      session.agent.start();
      return session;
    },
  });
  /** The agent's KMS Decrypt: in process, with exactly the checks of the HTTP operation. */
  const agentDecrypt = (blob: Buffer, context: Record<string, string>, keyId: string): Buffer => {
    const call: ApiCall = {
      time: Date.now(),
      service: 'kms',
      operation: 'Decrypt',
      caller: 'agent',
      body: { CiphertextBlob: blob.toString('base64'), EncryptionContext: { ...context }, KeyId: keyId },
      status: 200,
    };
    apiCalls.push(call);
    try {
      return kms.decryptDataKey(blob, context, keyId);
    } catch (error) {
      call.status = error instanceof ApiError ? error.status : 500;
      call.errorType = error instanceof ApiError ? error.type : 'InternalServerError';
      throw error;
    }
  };
  const tls = options.tls ? throwawayTls() : undefined;
  const httpApi = createServer(handler);
  const httpsApi = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, handler) : undefined;
  const apiServers: HttpServer[] = httpsApi ? [httpApi, httpsApi] : [httpApi];
  for (const api of apiServers) api.on('upgrade', (request, socket, head) => gateway.handleUpgrade(request, socket, head));
  const server: Server = httpsApi ? dualProtocolServer(httpApi, httpsApi) : httpApi;
  await listen(server, options.port ?? 0);
  port = (server.address() as AddressInfo).port;

  const requireSession = (sessionId: string): SimSession => {
    const session = registry.get(sessionId);
    if (!session) throw new Error(`unknown session ${sessionId}`);
    return session;
  };
  let closing: Promise<void> | undefined;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    httpsEndpoint: tls ? `https://127.0.0.1:${port}` : undefined,
    caFile: tls?.caFile,
    port,
    sessions: registry.sessions,
    faults,
    apiCalls,
    kms,
    ecs,
    instances,
    get sessionPreferences() {
      return preferences;
    },
    setSessionPreferences: (update) => {
      preferences = { ...preferences, ...update };
    },
    nextSessionPreferences: (update) => {
      oneShotPreferences.push({ ...update });
    },
    openDataChannelMessages,
    frameLog: wireLog.entries,
    observe: (observer) => wireLog.observe(observer),
    publish: (sessionId, to, kind) => gateway.publish(requireSession(sessionId), to, kind),
    disconnectClient: (sessionId) => gateway.disconnectClient(requireSession(sessionId)),
    terminateSession: (sessionId) => gateway.terminate(requireSession(sessionId)),
    close: () => {
      closing ??= (async () => {
        faults.dispose();
        await gateway.close();
        await Promise.all([...registry.sessions.values()].map((session) => session.agent.stop()));
        faults.dispose(); // anything queued by the agents on their way out
        for (const api of apiServers) api.closeAllConnections();
        await Promise.all(
          [...new Set<Server>([server, ...apiServers])].map(
            (listening) => new Promise<void>((resolve) => (listening.listening ? listening.close(() => resolve()) : resolve())),
          ),
        );
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
