import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { corkWebSocketUntilNextTick } from '../util/tick-cork.ts';
import { HeaderFlags, MessageType, SCHEMA_VERSION } from '../protocol/constants.ts';
import { decodeFrame, encodeFrame } from '../protocol/frame.ts';
import { encodeUnsequencedFrame } from '../protocol/control-frames.ts';
import { getFold } from '../protocol/payloads.ts';
import { newUuid } from '../protocol/uuid.ts';
import type { Direction, FaultInjector } from './faults.ts';
import type { PluginResult } from './agent/session-plugin.ts';
import type { ClientAttachment, OpenDataChannelRecord, SessionRegistry, SimSession } from './sessions.ts';
import type { WireLog } from './wire-log.ts';

const DATA_CHANNEL_PATH = /^\/v1\/data-channel\/([^/]+)$/;
/**
 * How the simulator refuses a socket (unknown session, bad or missing token). The real
 * service's behaviour here is not documented; a policy-violation close is a reasonable
 * stand-in. Close reasons never contain the token.
 */
const POLICY_VIOLATION = 1008;
const NORMAL_CLOSURE = 1000;
const GOING_AWAY = 1001;

export type PublicationKind = 'pause' | 'start';

/**
 * Unsent bytes on a client socket above which the agent's writes count as blocked, like a
 * WebSocket write into a full TCP buffer (§6.8 backpressure model). Output producers
 * resume once it falls to half of that.
 */
export const DEFAULT_CLIENT_BUFFER_LIMIT = 4 * 1024 * 1024;

export interface GatewayOptions {
  registry: SessionRegistry;
  faults: FaultInjector;
  wireLog: WireLog;
  openDataChannelMessages: OpenDataChannelRecord[];
  /**
   * Tell the agent pause_publication while no client socket is attached and
   * start_publication when one attaches (§6.8; inferred service behaviour).
   */
  pauseAgentWhileDetached: boolean;
  /** See DEFAULT_CLIENT_BUFFER_LIMIT. */
  clientBufferLimit?: number;
}

/**
 * The message gateway (PROTOCOL.md §11.1): accepts client WebSockets on
 * /v1/data-channel/<SessionId>, checks the OpenDataChannel token, relays raw frames
 * between the client and the in-process agent (through the fault injector), and sends
 * channel_closed when the agent reports Terminating (Output empty) or, for sessions that
 * end without it (ports, cancelled shells, failures), when the agent reports its task
 * result (Output: a failed session's text). The service's side is inferred: the agent's
 * source shows only what it sends.
 */
export class Gateway {
  private readonly options: GatewayOptions;
  private readonly server = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false });
  private readonly sockets = new Set<WebSocket>();
  private nextAttachmentId = 1;
  private readonly clientBufferLimit: number;

  constructor(options: GatewayOptions) {
    this.options = options;
    this.clientBufferLimit = options.clientBufferLimit ?? DEFAULT_CLIENT_BUFFER_LIMIT;
  }

  /**
   * Backpressure towards the agent: true while the attached client socket holds more
   * unsent bytes than the limit (the client is slow or has stopped reading). The real
   * agent's WebSocket write would block here, so its output loops stop reading their
   * pty or sockets until the connection drains.
   */
  clientBackedUp(session: SimSession): boolean {
    const socket = session.client?.socket;
    return socket !== undefined && socket.readyState === WebSocket.OPEN && socket.bufferedAmount > this.clientBufferLimit;
  }

  /**
   * Backpressure towards the client: the agent takes no input for now (its session
   * handler's destination socket or smux receive buffer is full, as the real agent's read
   * loop blocks in a write; or its read loop has used this turn, see agent/read-turns.ts).
   * The service stops reading the client's socket meanwhile, so the client's own sends
   * back up instead of frames piling up (or being retransmitted).
   */
  agentInputHeld(session: SimSession, held: boolean): void {
    const socket = session.client?.socket;
    if (!socket) return;
    if (held) socket.pause();
    else socket.resume();
  }

  /** The HTTP server's 'upgrade' handler. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const match = DATA_CHANNEL_PATH.exec(path);
    if (!match) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const sessionId = decodeURIComponent(match[1] ?? '');
    const secure = (request.socket as { encrypted?: boolean }).encrypted === true;
    this.server.handleUpgrade(request, socket, head, (ws) => this.accept(ws, sessionId, secure));
  }

  /** A new session's agent starts paused when the service holds no client for it. */
  sessionCreated(session: SimSession): void {
    if (this.options.pauseAgentWhileDetached) this.publishToAgent(session, 'pause');
  }

  /** Everything the agent writes comes through here. */
  fromAgent(session: SimSession, frame: Buffer): void {
    if (mayBeAgentSessionState(frame) && peekMessageType(frame) === MessageType.AgentSessionState) {
      this.onAgentState(session, frame);
      return;
    }
    this.options.wireLog.record('toClient', frame, session.sessionId);
    const attachment = session.client;
    if (!attachment) return; // nobody to deliver to; the agent will retransmit
    this.options.faults.apply('toClient', frame, (bytes) => {
      if (session.client !== attachment || attachment.socket.readyState !== WebSocket.OPEN) return;
      const close = this.options.faults.shouldCloseClient('toClient', bytes.length);
      corkWebSocketUntilNextTick(attachment.socket);
      attachment.socket.send(bytes, { binary: true }, () => {
        if (close) attachment.socket.terminate();
        else if (attachment.socket.bufferedAmount <= this.clientBufferLimit / 2) session.agent.channel.transportDrained();
      });
    });
  }

  /** Ends the session from the service side (TerminateSession): the agent shuts down. */
  terminate(session: SimSession): void {
    if (session.status === 'terminated') return;
    session.status = 'terminated';
    session.agent.terminate();
  }

  /** Sends pause_publication / start_publication to one side (§6.8, §11.1). */
  publish(session: SimSession, to: Direction, kind: PublicationKind): void {
    if (to === 'toAgent') {
      this.publishToAgent(session, kind);
      return;
    }
    const socket = session.client?.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const frame = serviceFrame(kind === 'pause' ? MessageType.PausePublication : MessageType.StartPublication);
    this.options.wireLog.record('toClient', frame, session.sessionId);
    socket.send(frame, { binary: true });
  }

  /** Drops the client's connection abruptly, as a network failure would. */
  disconnectClient(session: SimSession): void {
    session.client?.socket.terminate();
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(ws: WebSocket, sessionId: string, secure: boolean): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', () => undefined); // a broken socket just closes
    ws.on('ping', (data) => {
      if (!this.options.faults.isSilenced && ws.readyState === WebSocket.OPEN) ws.pong(data);
    });
    const session = this.options.registry.get(sessionId);
    if (!session) {
      ws.close(POLICY_VIOLATION, 'unknown session');
      return;
    }
    let attachment: ClientAttachment | undefined;
    let refused = false;
    ws.on('message', (data, isBinary) => {
      if (refused || this.options.faults.isSilenced) return;
      const bytes = toBuffer(data);
      if (!attachment) {
        // Nothing is relayed or sent before a valid OpenDataChannel (§11.1).
        attachment = this.openDataChannel(ws, session, bytes, isBinary, secure);
        refused = attachment === undefined;
        return;
      }
      if (session.client === attachment) this.relayToAgent(session, bytes);
    });
    ws.on('close', () => {
      if (attachment && session.client === attachment) this.detach(session);
    });
  }

  private openDataChannel(
    ws: WebSocket,
    session: SimSession,
    bytes: Buffer,
    isBinary: boolean,
    secure: boolean,
  ): ClientAttachment | undefined {
    const message = parseObject(bytes);
    const record: OpenDataChannelRecord = {
      sessionId: session.sessionId,
      receivedAt: Date.now(),
      message,
      accepted: false,
      secure,
    };
    this.options.openDataChannelMessages.push(record);
    if (isBinary) {
      ws.close(POLICY_VIOLATION, 'expected OpenDataChannel');
      return undefined;
    }
    const token = message?.TokenValue;
    if (typeof token !== 'string' || token !== session.token) {
      ws.close(POLICY_VIOLATION, 'invalid token');
      return undefined;
    }
    record.accepted = true;
    const clientId = typeof message?.ClientId === 'string' ? message.ClientId : '';
    if (session.status === 'terminated') {
      this.sendChannelClosed(ws, session, clientId, session.closedOutput ?? '');
      return undefined;
    }
    return this.attach(session, ws, clientId);
  }

  private attach(session: SimSession, socket: WebSocket, clientId: string): ClientAttachment {
    const previous = session.client;
    const attachment: ClientAttachment = { id: this.nextAttachmentId++, socket, clientId, attachedAt: Date.now() };
    session.client = attachment;
    session.connectionCount++;
    if (previous) {
      previous.socket.resume(); // it may be paused by agentInputHeld; let its close complete
      previous.socket.close(GOING_AWAY, 'replaced by a newer connection');
    }
    else if (this.options.pauseAgentWhileDetached) this.publishToAgent(session, 'start');
    if (session.agent.inputHeld) socket.pause();
    session.agent.channel.transportDrained(); // a fresh socket has nothing queued
    return attachment;
  }

  private detach(session: SimSession): void {
    session.client = undefined;
    if (this.options.pauseAgentWhileDetached && session.status === 'active') this.publishToAgent(session, 'pause');
    session.agent.channel.transportDrained(); // frames now go nowhere; nothing to wait for
  }

  private relayToAgent(session: SimSession, frame: Buffer): void {
    this.options.wireLog.record('toAgent', frame, session.sessionId);
    this.options.faults.apply('toAgent', frame, (bytes) => {
      session.agent.receive(bytes);
      if (this.options.faults.shouldCloseClient('toAgent', bytes.length)) session.client?.socket.terminate();
    });
  }

  private publishToAgent(session: SimSession, kind: PublicationKind): void {
    session.agent.receive(serviceFrame(kind === 'pause' ? MessageType.PausePublication : MessageType.StartPublication));
  }

  private onAgentState(session: SimSession, frame: Buffer): void {
    let state: unknown;
    try {
      state = getFold(parseObject(decodeFrame(frame, { verifyDigest: false }).payload), 'SessionState');
    } catch {
      return;
    }
    if (state === 'Terminating') this.closeForClient(session, '');
  }

  /** The agent's session is over: its task result (see the class comment). */
  agentFinished(session: SimSession, result: PluginResult): void {
    this.closeForClient(session, result.status === 'failed' ? result.output : '');
  }

  /** channel_closed to the client, once per session. */
  private closeForClient(session: SimSession, output: string): void {
    if (session.closedOutput !== undefined) return;
    session.status = 'terminated';
    session.closedOutput = output;
    const attachment = session.client;
    session.client = undefined;
    if (attachment && !this.options.faults.isSilenced) {
      this.sendChannelClosed(attachment.socket, session, attachment.clientId, output);
    }
  }

  /** channel_closed (§4.2, §11.1), then a normal close of the socket. */
  private sendChannelClosed(socket: WebSocket, session: SimSession, clientId: string, output: string): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    const messageId = newUuid();
    const createdDate = Date.now();
    const payload = Buffer.from(
      JSON.stringify({
        MessageId: messageId,
        CreatedDate: new Date(createdDate).toISOString(),
        DestinationId: clientId,
        SessionId: session.sessionId,
        MessageType: MessageType.ChannelClosed,
        SchemaVersion: 1,
        Output: output,
      }),
    );
    const frame = encodeFrame({
      messageType: MessageType.ChannelClosed,
      schemaVersion: SCHEMA_VERSION,
      createdDate,
      sequenceNumber: 0,
      flags: HeaderFlags.SynFin,
      messageId,
      payloadType: 0,
      payload,
    });
    this.options.wireLog.record('toClient', frame, session.sessionId);
    socket.send(frame, { binary: true });
    socket.close(NORMAL_CLOSURE);
  }
}

/** A message of the service's own: Seq 0, Flags 3, empty payload. */
function serviceFrame(messageType: string): Buffer {
  return encodeUnsequencedFrame(messageType);
}

/**
 * False when the type field's first byte already rules out agent_session_state: a
 * printable, non-blank byte other than `a`, or `a` followed by anything but `g`
 * (acknowledge). Spares a string and a regular expression for nearly every frame.
 */
function mayBeAgentSessionState(frame: Buffer): boolean {
  const first = frame[4];
  if (first === undefined) return true;
  if (first === 0x61) return frame[5] === 0x67;
  return first < 0x21 || first > 0x7e;
}

/** Reads the MessageType field without decoding the rest of the frame. */
function peekMessageType(frame: Buffer): string {
  if (frame.length < 36) return '';
  return frame.toString('latin1', 4, 36).replace(/^\0+|\0+$/g, '').trim();
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function parseObject(bytes: Buffer | string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString());
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
