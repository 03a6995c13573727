import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { FrameTransport } from '../channel/transport.ts';
import { connectProxyAgent } from '../net/connect-agent.ts';
import { proxyFor } from '../net/proxy-env.ts';
import { tlsTrust, untrustedCertificateMessage, type TlsTrust } from '../net/tls-trust.ts';
import { corkWebSocketUntilNextTick } from '../util/tick-cork.ts';

/** The data channel could not be opened; the message is safe to show the user. */
export class ConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectError';
  }
}

/** The server's certificate is not trusted: final, retrying cannot help. */
export class UntrustedCertificateError extends ConnectError {
  constructor(message: string) {
    super(message);
    this.name = 'UntrustedCertificateError';
  }
}

export interface Liveness {
  /** A WebSocket ping this often. */
  intervalMs: number;
  /** No message and no pong for this long: the connection is dead. */
  timeoutMs: number;
}

export interface ConnectOptions {
  /** Text of the OpenDataChannel message, sent first on the new connection. */
  openDataChannel: string;
  /** Dead-connection detection; without it only the kernel's errors end a connection. */
  liveness?: Liveness;
  /** Dial plus upgrade limit (the official client uses the library default of 45 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** What ws reports when the connection ended without a close frame from the peer. */
const ABNORMAL_CLOSURE = 1006;

/**
 * Reading stops while more acknowledgement bytes than this wait to be written, and starts
 * again at half. The official client's reader goroutine acknowledges each frame itself
 * (session-manager-plugin src/communicator/websocketchannel.go: the read loop calls
 * OnMessage; src/datachannel/streaming.go: HandleOutputMessage → SendAcknowledgeMessage,
 * a WebSocket write under the write lock), so it reads nothing more while an ack's write
 * blocks; we allow a bounded queue instead of one ack.
 */
export const UNWRITTEN_ACK_LIMIT = 256 * 1024;
/** One ack in this many bytes of them asks to be told when written (not one callback per ack). */
const ACK_WRITE_MARK_BYTES = 32 * 1024;

/** A connected data-channel WebSocket: binary frames both ways (§2). */
export class WebSocketTransport extends EventEmitter implements FrameTransport {
  closeCode: number | undefined;
  private readonly socket: WebSocket;
  private closed = false;
  private lastHeard = performance.now();
  private livenessTimer: NodeJS.Timeout | undefined;
  /** Acknowledgement bytes handed to ws, known written, and at the latest write mark. */
  private ackBytesSent = 0;
  private ackBytesWritten = 0;
  private ackBytesMarked = 0;
  /** Reading is stopped by the channel (holdIncoming), and while acks wait to be written. */
  private pausedByChannel = false;
  private pausedForAcks = false;

  constructor(socket: WebSocket, liveness?: Liveness) {
    super();
    this.socket = socket;
    socket.on('pong', () => (this.lastHeard = performance.now()));
    if (liveness) this.watch(liveness);
    socket.on('message', (data: WebSocket.RawData) => {
      this.lastHeard = performance.now();
      // Text and binary messages are both frames (§2.1).
      const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.emit('frame', buffer);
    });
    socket.on('close', (code: number, reason: Buffer) => {
      if (!this.closed && code !== ABNORMAL_CLOSURE) this.closeCode = code;
      this.finish(code, reason.toString());
    });
    socket.on('error', (err: Error) => this.finish(undefined, err.message));
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  send(frame: Buffer): boolean {
    return this.write(frame);
  }

  sendAcknowledgement(frame: Buffer): boolean {
    this.ackBytesSent += frame.length;
    let written: (() => void) | undefined;
    if (this.ackBytesSent - this.ackBytesMarked >= ACK_WRITE_MARK_BYTES) {
      const mark = (this.ackBytesMarked = this.ackBytesSent);
      written = () => this.acksWritten(mark);
    }
    if (!this.write(frame, written)) return false;
    if (!this.pausedForAcks && this.ackBytesSent - this.ackBytesWritten > UNWRITTEN_ACK_LIMIT) {
      this.pausedForAcks = true;
      this.socket.pause();
    }
    return true;
  }

  /** True while reading waits for acknowledgements to be written (UNWRITTEN_ACK_LIMIT). */
  get waitingForAcks(): boolean {
    return this.pausedForAcks;
  }

  pause(): void {
    this.pausedByChannel = true;
    this.socket.pause();
  }

  resume(): void {
    this.pausedByChannel = false;
    if (!this.pausedForAcks) this.socket.resume();
  }

  /**
   * Everything up to a write mark is written. Marks come every ACK_WRITE_MARK_BYTES, less
   * than half the limit, so the last one before a pause brings the unwritten bytes under
   * the resume threshold.
   */
  private acksWritten(mark: number): void {
    this.ackBytesWritten = mark;
    this.lastHeard = performance.now(); // the service takes our bytes: it is alive
    if (!this.pausedForAcks || this.ackBytesSent - mark > UNWRITTEN_ACK_LIMIT / 2) return;
    this.pausedForAcks = false;
    if (!this.pausedByChannel) this.socket.resume();
  }

  /** `written` runs once the frame (and so everything queued before it) is written. */
  private write(frame: Buffer, written?: () => void): boolean {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return false;
    // Frames sent in one tick (a burst of data, the acks for one read) share one write.
    corkWebSocketUntilNextTick(this.socket);
    this.socket.send(frame, { binary: true }, written);
    return true;
  }

  /** WebSocket-level ping; the official client sends `keepalive` every 5 minutes. */
  ping(payload = 'keepalive'): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.ping(payload);
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(1000);
    }
    this.finish(1000, 'closed by client');
  }

  /**
   * Pings on an interval and declares the connection dead when nothing at all (message
   * or pong) arrived within the timeout: a silent network never raises an error.
   * Inbound silence is counted while we read or wait for our acks to be written (a
   * service that takes none of them for the whole timeout is as dead as a silent one);
   * while the channel holds incoming frames we hear nothing, which says nothing.
   */
  private watch({ intervalMs, timeoutMs }: Liveness): void {
    const tick = () => {
      if (this.closed) return;
      const silent = performance.now() - this.lastHeard;
      if (silent >= timeoutMs && !this.pausedByChannel) {
        this.socket.terminate();
        this.finish(undefined, `no response from the service for ${Math.round(silent / 1000)} s`);
        return;
      }
      if (this.pausedByChannel) this.lastHeard = performance.now();
      this.ping();
      this.livenessTimer = setTimeout(tick, Math.min(intervalMs, Math.max(1, timeoutMs - silent)));
    };
    this.livenessTimer = setTimeout(tick, intervalMs);
  }

  private finish(code: number | undefined, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    this.emit('close', code === 1000 ? undefined : new Error(`data channel closed (${code ?? 'error'}${reason ? `: ${reason}` : ''})`));
  }
}

/**
 * Client frames are masked so that bytes a client lets others choose (our payloads) cannot
 * pose as plain HTTP to an intermediary that reads the connection (RFC 6455 §10.3). Under
 * TLS no intermediary reads it, and on loopback there is none, so there a zero mask, which
 * ws does not apply at all, saves a copy and an XOR pass per frame (~10 % of the CPU).
 */
export function maskingIsMoot(url: URL, proxy: URL | undefined): boolean {
  if (url.protocol === 'wss:') return true;
  if (proxy) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * Opens the WebSocket to StreamUrl verbatim and sends OpenDataChannel as the first
 * (text) message. No auth headers, no subprotocol, no compression (§2.1).
 */
export function connectWebSocket(streamUrl: string, options: ConnectOptions): Promise<WebSocketTransport> {
  let url: URL;
  try {
    url = new URL(streamUrl);
  } catch {
    return Promise.reject(new ConnectError('StreamUrl is not a valid URL'));
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    return Promise.reject(new ConnectError(`StreamUrl must be a ws:// or wss:// URL, not ${url.protocol}`));
  }
  const proxy = proxyFor(url, options.env);
  const secure = url.protocol === 'wss:';
  let trust: TlsTrust;
  try {
    trust = secure ? tlsTrust(options.env) : {};
  } catch (err) {
    return Promise.reject(err);
  }
  const socket = new WebSocket(streamUrl, {
    perMessageDeflate: false,
    handshakeTimeout: options.timeoutMs ?? 45_000,
    maxPayload: 64 * 1024 * 1024,
    ...trust,
    ...(maskingIsMoot(url, proxy) ? { generateMask: zeroMask } : {}),
    ...(proxy ? { agent: connectProxyAgent(proxy, secure, trust) } : {}),
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.terminate();
      const untrusted = untrustedCertificateMessage(err);
      const prefix = `cannot open the data channel to ${url.host}`;
      reject(untrusted ? new UntrustedCertificateError(`${prefix}: ${untrusted}`) : new ConnectError(`${prefix}: ${err.message}`));
    };
    socket.once('error', fail);
    socket.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode} on upgrade`)));
    socket.once('open', () => {
      socket.off('error', fail);
      const transport = new WebSocketTransport(socket, options.liveness);
      socket.send(options.openDataChannel, { binary: false });
      // The official client pings `keepalive` right after connecting (§2.1).
      transport.ping();
      resolve(transport);
    });
  });
}
