import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import type { Agent } from './agent/agent.ts';

/** One OpenDataChannel message as the gateway received it (§2.2). */
export interface OpenDataChannelRecord {
  sessionId: string;
  receivedAt: number;
  /** Parsed JSON, or undefined when the text was not a JSON object. */
  message: Record<string, unknown> | undefined;
  accepted: boolean;
  /** It came over TLS (wss://). */
  secure: boolean;
}

/** The client WebSocket currently attached to a session. */
export interface ClientAttachment {
  readonly id: number;
  readonly socket: WebSocket;
  /** ClientId from the accepted OpenDataChannel (used as channel_closed DestinationId). */
  readonly clientId: string;
  readonly attachedAt: number;
}

export type SessionStatus = 'active' | 'terminated';

export interface SessionSpec {
  target: string;
  documentName: string;
  parameters: Readonly<Record<string, readonly string[]>>;
  reason: string | undefined;
  /** SessionId prefix (default `sim-`; ECS exec sessions use `ecs-execute-command-`). */
  idPrefix?: string;
}

/**
 * Session preferences as the service hands them to the agent (the account's
 * SSM-SessionManagerRunShell settings). Only KMS encryption is modelled.
 */
export interface SessionPreferences {
  /** KMS key id/ARN/alias: the agent requests KMSEncryption for non-Port sessions (§8.1). */
  kmsKeyId?: string;
  /** Newer agent form: add a random `Challenge` to the KMSEncryption action (default true). */
  randomChallenge?: boolean;
  /** Reject clients that do not acknowledge the random challenge (default false). */
  requireChallengeAck?: boolean;
}

/** A session as the simulated service sees it: API state, token, agent, client socket. */
export class SimSession {
  readonly sessionId: string;
  readonly target: string;
  readonly documentName: string;
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  readonly reason: string | undefined;
  readonly createdAt = Date.now();
  /** Opaque routing value in the StreamUrl, fixed for the session. */
  readonly cellNumber = randomBytes(24).toString('base64url');
  readonly agent: Agent;
  /** The only TokenValue the gateway accepts; ResumeSession replaces it. */
  token = newToken();
  status: SessionStatus = 'active';
  client: ClientAttachment | undefined;
  /** How many client sockets have been accepted for this session. */
  connectionCount = 0;
  /** The Output the service put in channel_closed, once it did. */
  closedOutput: string | undefined;
  /** The preferences in force when the session started. */
  readonly preferences: Readonly<SessionPreferences>;

  constructor(
    sessionId: string,
    spec: SessionSpec,
    createAgent: (session: SimSession) => Agent,
    preferences: SessionPreferences = {},
  ) {
    this.sessionId = sessionId;
    this.preferences = { ...preferences };
    this.target = spec.target;
    this.documentName = spec.documentName;
    this.parameters = spec.parameters;
    this.reason = spec.reason;
    this.agent = createAgent(this);
  }

  rotateToken(): string {
    this.token = newToken();
    return this.token;
  }
}

/** Looks like a real id: a principal-ish prefix and 17 hex digits. */
export function newSessionId(prefix = 'sim-'): string {
  return `${prefix}${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** Real tokens are long opaque base64 strings. */
function newToken(): string {
  return randomBytes(240).toString('base64');
}

export class SessionRegistry {
  private readonly byId = new Map<string, SimSession>();

  get sessions(): ReadonlyMap<string, SimSession> {
    return this.byId;
  }

  create(
    spec: SessionSpec,
    createAgent: (session: SimSession) => Agent,
    preferences: SessionPreferences = {},
  ): SimSession {
    let id = newSessionId(spec.idPrefix);
    while (this.byId.has(id)) id = newSessionId(spec.idPrefix);
    const session = new SimSession(id, spec, createAgent, preferences);
    this.byId.set(id, session);
    return session;
  }

  get(sessionId: string): SimSession | undefined {
    return this.byId.get(sessionId);
  }
}
