import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeaderFlags, MessageType, PayloadType, SCHEMA_VERSION } from '../../protocol/constants.ts';
import { decodeFrame, encodeFrame, FrameError, type Frame } from '../../protocol/frame.ts';
import { encodeUnsequencedFrame, writeAcknowledgeFrame } from '../../protocol/control-frames.ts';
import { decodeAcknowledgedSequence } from '../../protocol/payloads.ts';
import { KMS_NONCE_BYTES } from '../../protocol/kms-cipher.ts';
import { parseHandshakeResponse } from './go-json.ts';
import { RtoEstimator } from './rto-estimator.ts';

/**
 * The SSM agent's side of the data-channel reliability layer, written from the agent
 * columns of PROTOCOL.md §6 (not from our client's channel): its own sequence numbers,
 * an ack for every accepted input frame, re-acks for duplicates, an out-of-order buffer,
 * a retransmission scheduler that only ever looks at the oldest unacked frame, and the
 * pause/start publication flow control of §6.8.
 */

/** Agent buffer capacities (§6.3, §6.5, §13). */
export const AGENT_OUTGOING_CAPACITY = 100_000;
export const AGENT_INCOMING_CAPACITY = 100_000;
export const RESEND_TICK_MS = 100;
/** Before closing, the agent waits this long for its outgoing buffer to drain (§11.2). */
export const DRAIN_TIMEOUT_MS = 2000;
export const DRAIN_POLL_MS = 10;

/** What a session handler did with an input frame: only accepted frames are acked. */
export type InputVerdict = 'accepted' | 'not-ready';
export type InputHandler = (frame: Frame) => InputVerdict;
export type SessionState = 'Connected' | 'Terminating';

/** KMS extension point (§8): payload encryption once the key exchange has happened. */
export interface PayloadCipher {
  encrypt(plaintext: Buffer): Buffer;
  /** Throws when the payload does not authenticate. */
  decrypt(ciphertext: Buffer): Buffer;
}

/** Agent → client payload types that are encrypted when KMS is on (§8.4). */
const ENCRYPTED_OUTPUT_TYPES: ReadonlySet<number> = new Set([
  PayloadType.Output,
  PayloadType.StdErr,
  PayloadType.ExitCode,
]);

/** Payload types the agent accepts before its handshake has completed (§11.2). */
const HANDSHAKE_INPUT_TYPES: ReadonlySet<number> = new Set([
  PayloadType.HandshakeResponse,
  PayloadType.EncChallengeResponse,
]);

interface OutgoingEntry {
  readonly sequenceNumber: number;
  readonly bytes: Buffer;
  lastSent: number;
  resends: number;
}

export interface AgentChannelOptions {
  sessionId: string;
  /** Writes one frame towards the service. */
  send: (frame: Buffer) => void;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
  outgoingCapacity?: number;
  incomingCapacity?: number;
  resendTickMs?: number;
  /**
   * True while the service connection is backed up (the client is not reading). The
   * real agent's WebSocket writes then block, which stops its output loops; here output
   * producers check `writable` and wait for `transportDrained()`.
   */
  transportBlocked?: () => boolean;
  /**
   * Called with true when the session handler holds input (its destination is backed up)
   * and false when it takes input again. The real agent's read loop blocks in the
   * handler's write; the service should stop reading the client meanwhile.
   */
  onInputHeld?: (held: boolean) => void;
}

export interface AgentChannelStats {
  framesReceived: number;
  malformedDropped: number;
  acksSent: number;
  acksReceived: number;
  resends: number;
  /** Out-of-order frames dropped without ack because the buffer was full. */
  incomingOverflow: number;
  /** Frames sent but not stored because the outgoing buffer was full. */
  outgoingUnstored: number;
  /** Encrypted input payloads that failed to decrypt. */
  decryptFailures: number;
}

export class AgentChannel {
  readonly sessionId: string;
  readonly rto = new RtoEstimator();
  readonly stats: AgentChannelStats = {
    framesReceived: 0,
    malformedDropped: 0,
    acksSent: 0,
    acksReceived: 0,
    resends: 0,
    incomingOverflow: 0,
    outgoingUnstored: 0,
    decryptFailures: 0,
  };
  nextOutSeq = 0;
  expectedInSeq = 0;
  /** Set by the agent for session types that start with a handshake (§5.2). */
  handshakeRequired = false;
  handshakeComplete = false;
  cipher: PayloadCipher | undefined;
  /** KMS was requested: Output payloads from the client are decrypted (before any key exists too). */
  encryptionEnabled = false;
  /** Every agent_session_state reported, in order (for tests). */
  readonly sessionStatesSent: SessionState[] = [];

  private readonly sendFrame: (frame: Buffer) => void;
  private readonly now: () => number;
  private readonly outgoingCapacity: number;
  private readonly incomingCapacity: number;
  private readonly resendTickMs: number;
  private readonly outgoing = new Map<number, OutgoingEntry>();
  private readonly incoming = new Map<number, Frame>();
  private readonly resumeListeners = new Set<() => void>();
  private readonly writableListeners = new Set<() => void>();
  private readonly transportBlocked: () => boolean;
  private readonly onInputHeld: ((held: boolean) => void) | undefined;
  private inputHeldFlag = false;
  /** Raw frames that arrived while input was held, in arrival order. */
  private heldFrames: Buffer[] = [];
  /** The in-order frame the handler could not take when it held input (and its wire bytes); retried on release. */
  private retryFrame: Frame | undefined;
  private retryRaw: Buffer | undefined;
  private waitingForTransport = false;
  private dataHandler: InputHandler | undefined;
  private handshakeHandler: InputHandler | undefined;
  private resendTimer: NodeJS.Timeout | undefined;
  private pausedFlag = false;
  private closed = false;
  private listening = true;

  constructor(options: AgentChannelOptions) {
    this.sessionId = options.sessionId;
    this.sendFrame = options.send;
    this.now = options.now ?? (() => performance.now());
    this.outgoingCapacity = options.outgoingCapacity ?? AGENT_OUTGOING_CAPACITY;
    this.incomingCapacity = options.incomingCapacity ?? AGENT_INCOMING_CAPACITY;
    this.resendTickMs = options.resendTickMs ?? RESEND_TICK_MS;
    this.transportBlocked = options.transportBlocked ?? (() => false);
    this.onInputHeld = options.onInputHeld;
  }

  /**
   * Whether output producers may hand over more data now: false while publication is
   * paused or while the service connection is backed up. Producers that see false wait
   * for an `onWritable` notification.
   */
  get writable(): boolean {
    if (this.closed) return true; // nothing will ever drain; let producers run out
    if (this.pausedFlag) return false;
    return this.transportReady;
  }

  /**
   * Whether the service connection takes more now, publication aside: false while it is
   * backed up (a real agent's WebSocket write would block). Producers that see false wait
   * for an `onWritable` notification.
   */
  get transportReady(): boolean {
    if (this.closed) return true;
    if (this.transportBlocked()) {
      this.waitingForTransport = true;
      return false;
    }
    return true;
  }

  /** Fires when publication resumes or the service connection drains. */
  onWritable(listener: () => void): () => void {
    this.writableListeners.add(listener);
    return () => this.writableListeners.delete(listener);
  }

  /** The service connection has room again (called by the gateway). */
  transportDrained(): void {
    if (!this.waitingForTransport || this.transportBlocked()) return;
    this.waitingForTransport = false;
    this.notifyWritable();
  }

  /** True while the session handler holds input (§ backpressure towards the client). */
  get inputHeld(): boolean {
    return this.inputHeldFlag;
  }

  /**
   * The session handler cannot take more input for now. Frames arriving meanwhile are
   * kept unprocessed and unacked; an in-order frame the handler answers 'not-ready' while
   * input is held is retried on release instead of waiting for a retransmission.
   */
  holdInput(): void {
    if (this.inputHeldFlag || this.closed) return;
    this.inputHeldFlag = true;
    this.onInputHeld?.(true);
  }

  /**
   * Input flows again: retry the frame the handler deferred (unless `dropDeferred`, e.g.
   * a failed re-dial: then it stays unacked and the client retransmits it), then frames
   * buffered out of order, then frames that arrived while held.
   */
  releaseInput(options: { dropDeferred?: boolean } = {}): void {
    if (!this.inputHeldFlag) return;
    this.inputHeldFlag = false;
    const retry = this.retryFrame;
    const retryRaw = this.retryRaw;
    this.retryFrame = undefined;
    this.retryRaw = undefined;
    if (retry && retryRaw && !options.dropDeferred && !this.closed) this.receiveInput(retry, retryRaw);
    if (!this.inputHeldFlag) this.deliverBuffered();
    while (!this.inputHeldFlag && !this.closed && this.heldFrames.length > 0) {
      this.receive(this.heldFrames.shift() as Buffer);
    }
    if (!this.inputHeldFlag) this.onInputHeld?.(false);
  }

  /** True between pause_publication and the next resume trigger (§6.8). */
  get paused(): boolean {
    return this.pausedFlag;
  }

  get unackedCount(): number {
    return this.outgoing.size;
  }

  get bufferedInCount(): number {
    return this.incoming.size;
  }

  /** Starts the resend scheduler. */
  start(): void {
    if (this.resendTimer || this.closed) return;
    this.resendTimer = setInterval(() => this.resendOldest(), this.resendTickMs);
    this.resendTimer.unref();
  }

  /** The session handler; undefined means "not ready" (frames are neither acked nor consumed). */
  setDataHandler(handler: InputHandler | undefined): void {
    this.dataHandler = handler;
    this.deliverBuffered();
  }

  /** Receives HandshakeResponse / EncChallengeResponse while the handshake runs. */
  setHandshakeHandler(handler: InputHandler | undefined): void {
    this.handshakeHandler = handler;
  }

  /** Called when publication resumes, so output pumps can continue. */
  onResume(listener: () => void): () => void {
    this.resumeListeners.add(listener);
    return () => this.resumeListeners.delete(listener);
  }

  /**
   * Numbers, stores and (unless paused) sends one output_stream_data frame. A full
   * outgoing buffer does not stop the send; the frame is just not kept for resending.
   */
  sendStream(payloadType: number, payload: Buffer): number {
    const body =
      this.cipher && ENCRYPTED_OUTPUT_TYPES.has(payloadType) ? this.cipher.encrypt(payload) : payload;
    const sequenceNumber = this.nextOutSeq++;
    const bytes = encodeFrame({
      messageType: MessageType.OutputStreamData,
      schemaVersion: SCHEMA_VERSION,
      createdDate: Date.now(),
      sequenceNumber,
      flags: sequenceNumber === 0 ? HeaderFlags.Syn : HeaderFlags.None,
      payloadType,
      payload: body,
    });
    if (this.outgoing.size < this.outgoingCapacity) {
      this.outgoing.set(sequenceNumber, { sequenceNumber, bytes, lastSent: this.now(), resends: 0 });
    } else {
      this.stats.outgoingUnstored++;
    }
    if (!this.pausedFlag && !this.closed) this.sendFrame(bytes);
    return sequenceNumber;
  }

  /** Reports the agent's state to the service (§4.8); never seen by the client. */
  sendSessionState(state: SessionState): void {
    if (this.closed) return;
    this.sessionStatesSent.push(state);
    const report = { SchemaVersion: 1, SessionState: state, SessionId: this.sessionId };
    this.sendFrame(encodeUnsequencedFrame(MessageType.AgentSessionState, Buffer.from(JSON.stringify(report))));
  }

  /** Handles one frame arriving from the service. */
  receive(raw: Buffer): void {
    if (this.closed || !this.listening) return;
    if (this.inputHeldFlag) {
      // The real agent's read loop is blocked in the handler: nothing is processed,
      // acks and publication control included, until the handler takes input again.
      this.heldFrames.push(raw);
      return;
    }
    let frame: Frame;
    try {
      // The agent validates the header but never the payload digest (§3.3). Acks are
      // written from the wire bytes, so the MessageId's text form is not needed.
      frame = decodeFrame(raw, { verifyDigest: false, messageId: false });
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.stats.malformedDropped++;
      return;
    }
    this.stats.framesReceived++;
    switch (frame.messageType) {
      case MessageType.InputStreamData:
        this.resumePublication();
        this.receiveInput(frame, raw);
        break;
      case MessageType.Acknowledge:
        this.resumePublication();
        this.receiveAck(frame);
        break;
      case MessageType.PausePublication:
        this.pausedFlag = true;
        break;
      case MessageType.StartPublication:
        this.resumePublication();
        break;
      default:
        // channel_closed and anything else is not addressed to the agent's data stream.
        break;
    }
  }

  /** Polls (as the agent does) until every sent frame is acked or the timeout passes. */
  async drain(timeoutMs = DRAIN_TIMEOUT_MS, pollMs = DRAIN_POLL_MS): Promise<boolean> {
    const deadline = this.now() + timeoutMs;
    while (this.outgoing.size > 0 && !this.closed && this.now() < deadline) {
      await sleep(pollMs);
    }
    return this.outgoing.size === 0;
  }

  /** Stops the scheduler; later input and output are ignored. */
  close(): void {
    this.closed = true;
    if (this.resendTimer) clearInterval(this.resendTimer);
    this.resendTimer = undefined;
    this.resumePublication();
    this.resumeListeners.clear();
    this.notifyWritable();
    this.writableListeners.clear();
    this.heldFrames = [];
    this.retryFrame = undefined;
    this.retryRaw = undefined;
    if (this.inputHeldFlag) {
      this.inputHeldFlag = false;
      this.onInputHeld?.(false);
    }
  }

  /** `raw`: the frame's wire bytes, which its ack is written from. */
  private receiveInput(frame: Frame, raw: Buffer): void {
    const sequenceNumber = frame.sequenceNumber;
    if (sequenceNumber === this.expectedInSeq) {
      if (this.dispatch(frame) === 'not-ready') {
        // A handler that held input wants this frame again once it releases.
        if (this.inputHeldFlag) {
          this.retryFrame = frame;
          this.retryRaw = raw;
        }
        return;
      }
      this.acknowledge(frame, raw);
      this.expectedInSeq++;
      this.deliverBuffered();
    } else if (sequenceNumber > this.expectedInSeq) {
      if (this.incoming.size < this.incomingCapacity) {
        this.acknowledge(frame, raw);
        this.incoming.set(sequenceNumber, frame);
      } else {
        this.stats.incomingOverflow++;
      }
    } else {
      // Already processed: the agent acks it again so the sender can stop resending.
      this.acknowledge(frame, raw);
    }
  }

  /** Processes buffered frames that have become in-order (they were acked on arrival). */
  private deliverBuffered(): void {
    for (;;) {
      const frame = this.incoming.get(this.expectedInSeq);
      if (!frame || this.closed || this.inputHeldFlag) return;
      if (this.dispatch(frame) === 'not-ready') return;
      this.incoming.delete(this.expectedInSeq);
      this.expectedInSeq++;
    }
  }

  /** datachannel.go, processStreamDataMessage: decrypt, then route by payload type. */
  private dispatch(frame: Frame): InputVerdict {
    let message = frame;
    if (this.encryptionEnabled && frame.payloadType === PayloadType.Output) {
      // Every Output payload is decrypted first, during the handshake too. Without a key
      // yet, or with fewer bytes than a nonce, the agent's decrypt panics in its read loop.
      if (!this.cipher || frame.payload.length < KMS_NONCE_BYTES) return this.stopListening();
      try {
        message = { ...frame, payload: this.cipher.decrypt(Buffer.from(frame.payload)) };
      } catch {
        // An error, logged; the frame is not acknowledged and the session goes on (the
        // client's retransmissions fail alike).
        this.stats.decryptFailures++;
        return 'not-ready';
      }
    }
    if (HANDSHAKE_INPUT_TYPES.has(message.payloadType)) {
      return this.handshakeHandler ? this.handshakeHandler(message) : this.unexpectedHandshakePayload(message);
    }
    // Before the handshake completes anything else is acked and thrown away (§11.2).
    if (this.handshakeRequired && !this.handshakeComplete) return 'accepted';
    if (!this.dataHandler) return 'not-ready';
    return this.dataHandler(message);
  }

  /**
   * A HandshakeResponse or EncChallengeResponse in a session without a handshake: the
   * agent still handles it, and its read loop blocks on a channel nobody reads (a response
   * that unmarshals) or panics on a nil cipher (a challenge response).
   */
  private unexpectedHandshakePayload(frame: Frame): InputVerdict {
    if (frame.payloadType === PayloadType.HandshakeResponse && !parseHandshakeResponse(Buffer.from(frame.payload))) {
      return 'not-ready';
    }
    return this.stopListening();
  }

  /**
   * The agent's read loop is gone (a panic it recovered from, or a send that never
   * completes): nothing the service sends is processed any more, acks and publication
   * control included, while the session itself goes on.
   */
  stopListening(): 'not-ready' {
    this.listening = false;
    return 'not-ready';
  }

  /** False once the read loop has stopped (see stopListening). */
  get listeningToService(): boolean {
    return this.listening;
  }


  /** The same bytes as encodeAcknowledgeFrame, written from the wire bytes without a JSON object. */
  private acknowledge(frame: Frame, raw: Buffer): void {
    this.stats.acksSent++;
    this.sendFrame(writeAcknowledgeFrame(raw, frame.messageType, frame.sequenceNumber));
  }

  private receiveAck(frame: Frame): void {
    const sequenceNumber = decodeAcknowledgedSequence(frame.payload);
    if (sequenceNumber === undefined) return;
    const entry = this.outgoing.get(sequenceNumber);
    if (!entry) return;
    this.stats.acksReceived++;
    // The agent measures from the most recent send, since it updates lastSent on resend.
    this.rto.addSample(this.now() - entry.lastSent);
    this.outgoing.delete(sequenceNumber);
  }

  /** One turn of the resend scheduler, as the timer of `start()` takes it (tests turn it by hand). */
  resendTick(): void {
    this.resendOldest();
  }

  /** One scheduler tick: only the oldest unacked frame is considered (§6.3). */
  private resendOldest(): void {
    if (this.pausedFlag || this.closed) return;
    const oldest = this.outgoing.values().next();
    if (oldest.done) return;
    const entry = oldest.value;
    const now = this.now();
    if (now - entry.lastSent <= this.rto.rto) return;
    entry.lastSent = now;
    entry.resends++;
    this.stats.resends++;
    this.sendFrame(entry.bytes);
  }

  private resumePublication(): void {
    if (!this.pausedFlag) return;
    this.pausedFlag = false;
    for (const listener of [...this.resumeListeners]) listener();
    this.notifyWritable();
  }

  private notifyWritable(): void {
    for (const listener of [...this.writableListeners]) listener();
  }
}
