import { EventEmitter } from 'node:events';
import { MessageType, PayloadType, HeaderFlags, PAYLOAD_OFFSET, STREAM_CHUNK_SIZE } from '../protocol/constants.ts';
import { decodeFrame, encodeFrame, FrameError, type Frame } from '../protocol/frame.ts';
import { decodeAcknowledgedSequence, decodeChannelClosedOutput } from '../protocol/payloads.ts';
import { writeAcknowledgeFrame } from '../protocol/control-frames.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { OutgoingWindow, type PendingFrame } from './outgoing-window.ts';
import { CongestionWindow, type CongestionWindowOptions } from './congestion-window.ts';
import { FrameBufferPool } from './frame-buffer-pool.ts';
import { ReorderBuffer } from './reorder-buffer.ts';
import { RtoEstimator } from './rto.ts';
import type { FrameTransport } from './transport.ts';

/**
 * Receives one in-order payload. Returns false when the receiver is not ready: the
 * frame is then neither acknowledged nor consumed, and the peer retransmits it.
 */
export type PayloadHandler = (payloadType: number, payload: Buffer, frame: Frame) => boolean;

/** Payload encryption (KMS sessions): applied to what is sent and what is delivered. */
export interface PayloadCipher {
  encrypt(payloadType: number, payload: Buffer): Buffer;
  /** Throws when the payload cannot be authenticated. */
  decrypt(payloadType: number, payload: Buffer): Buffer;
}

export interface DataChannelOptions {
  /** MessageType of the frames we send (`input_stream_data` for a client). */
  outgoingType?: string;
  /** MessageType of the sequenced frames we receive. */
  incomingType?: string;
  /**
   * A fixed window: unacknowledged frames at which send() starts returning false. By
   * default the window is sized to the path instead (CongestionWindow).
   */
  windowFrames?: number;
  /** Settings of the path-sized window (ignored with windowFrames). */
  congestion?: CongestionWindowOptions;
  /** Out-of-order frames kept before further ones are dropped unacknowledged. */
  reorderCapacity?: number;
  /** No acknowledgement progress for this long while connected: 'stalled' is emitted. */
  stallTimeoutMs?: number;
  /** Header flags for an outgoing frame (the client always sends 0, §3.5). */
  headerFlags?: (sequenceNumber: number) => number;
  now?: () => number;
  logger?: Logger;
}

export interface DataChannelStats {
  framesSent: number;
  framesResent: number;
  framesReceived: number;
  duplicatesReceived: number;
  outOfOrderReceived: number;
  invalidFrames: number;
  acksReceived: number;
}

/**
 * No frame is resent sooner than this after its last send, whatever the RTT estimate:
 * over one TCP connection a late ack means a busy peer (or our own event loop), and
 * resending into the queue only makes it later.
 */
const MIN_RESEND_MS = 300;

/** Acks are written from the wire bytes, so the MessageId's text form is never needed. */
const DECODE_OPTIONS = { messageId: false } as const;

/** Frame buffers kept for reuse at most (and the window's initial slot count). */
const FRAME_POOL_LIMIT = 1024;

/** Payload types whose frames are acknowledged before they are processed (§5.3). */
const HANDSHAKE_TYPES = new Set<number>([
  PayloadType.HandshakeRequest,
  PayloadType.HandshakeComplete,
  PayloadType.EncChallengeRequest,
]);

/**
 * The reliable, sequenced data channel of PROTOCOL.md §6: numbering, one ack per frame
 * (duplicates re-acked), reordering, a bounded retransmission window driven by a single
 * timer, pause/start publication. It knows nothing about sockets: frames come from and
 * go to whatever FrameTransport is attached, and a transport may be replaced
 * (reconnect) without losing state.
 *
 * Events: 'channel_closed' (output: string), 'drain', 'acknowledged' (seq), 'stalled',
 * 'invalid_frame' (err), 'cipher_error' (err), 'paused', 'resumed'.
 */
export class DataChannel extends EventEmitter {
  readonly stats: DataChannelStats = {
    framesSent: 0,
    framesResent: 0,
    framesReceived: 0,
    duplicatesReceived: 0,
    outOfOrderReceived: 0,
    invalidFrames: 0,
    acksReceived: 0,
  };
  readonly rto = new RtoEstimator();

  private readonly outgoingType: string;
  private readonly incomingType: string;
  private readonly headerFlags: (sequenceNumber: number) => number;
  private readonly stallTimeoutMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly window: OutgoingWindow;
  /** Sizes the window to the path; undefined with a fixed windowFrames. */
  private readonly congestion: CongestionWindow | undefined;
  private readonly fixedWindow: number;
  private readonly frameBuffers: FrameBufferPool;
  private readonly allocateFrame = (size: number): Buffer => this.frameBuffers.take(size);
  private readonly reorder: ReorderBuffer;

  private transport: FrameTransport | undefined;
  private handler: PayloadHandler | undefined;
  private cipher: PayloadCipher | undefined;
  private nextOutgoingSequence = 0;
  private expectedIncomingSequence = 0;
  private paused = false;
  private incomingHeld = false;
  private producerBlocked = false;
  /** The blocked producer holds a frame that should not wait for an eighth of the window. */
  private drainAtFirstRoom = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private lastProgressAt = 0;
  private stallReported = false;
  private closed = false;

  private readonly onFrame = (data: Buffer) => this.receive(data);
  private readonly onTransportClose = () => this.detach();

  constructor(options: DataChannelOptions = {}) {
    super();
    this.outgoingType = options.outgoingType ?? MessageType.InputStreamData;
    this.incomingType = options.incomingType ?? MessageType.OutputStreamData;
    this.headerFlags = options.headerFlags ?? (() => HeaderFlags.None);
    this.stallTimeoutMs = options.stallTimeoutMs ?? 5 * 60_000;
    this.now = options.now ?? (() => performance.now());
    this.log = options.logger ?? silentLogger;
    this.congestion = options.windowFrames === undefined ? new CongestionWindow(options.congestion) : undefined;
    this.fixedWindow = options.windowFrames ?? 0;
    this.window = new OutgoingWindow(Math.min(this.windowLimit, FRAME_POOL_LIMIT));
    // Slots fit a full 1 KiB payload plus the header; a wide window on a long path
    // allocates past the pool, whose size bounds what an idle session keeps.
    this.frameBuffers = new FrameBufferPool(PAYLOAD_OFFSET + STREAM_CHUNK_SIZE, this.window.limit);
    this.reorder = new ReorderBuffer(options.reorderCapacity ?? 10_000);
  }

  get attached(): boolean {
    return this.transport !== undefined;
  }

  get unacknowledged(): number {
    return this.window.size;
  }

  /** Frames that may be unacknowledged now (the path-sized window, or the fixed one). */
  get windowLimit(): number {
    return this.congestion?.frames ?? this.fixedWindow;
  }

  /** The path-sized window's measurements (undefined with a fixed window). */
  get pathEstimate(): { window: number; framesPerMs: number; minRttMs: number; startup: boolean } | undefined {
    const c = this.congestion;
    return c && { window: c.frames, framesPerMs: c.deliveryRate, minRttMs: c.minRtt, startup: c.inStartup };
  }

  /** True while the window has room; producers should wait for 'drain' otherwise. */
  get writable(): boolean {
    return this.window.size < this.windowLimit;
  }

  /**
   * A blocked producer has an interactive frame waiting (a keystroke behind a bulk
   * transfer): the next 'drain' comes as soon as one frame of room opens, not after an
   * eighth of the window, which on a long path is hundreds of acks. Emits 'drain' at once
   * when the window already has room.
   */
  drainSoon(): void {
    if (!this.producerBlocked) return;
    if (this.writable) {
      this.producerBlocked = false;
      this.emit('drain');
      return;
    }
    this.drainAtFirstRoom = true;
  }

  /** Starts using a connected transport and (re)sends everything unacknowledged. */
  attach(transport: FrameTransport): void {
    this.detach();
    this.transport = transport;
    transport.on('frame', this.onFrame);
    transport.on('close', this.onTransportClose);
    if (this.incomingHeld) transport.pause();
    this.lastProgressAt = this.now();
    this.congestion?.resetPath();
    this.log.debug(`channel attached; ${this.window.size} unacknowledged frames to resend`);
    this.retransmitAll();
  }

  /** Stops using the current transport; frames keep being numbered and buffered. */
  detach(): void {
    const transport = this.transport;
    if (!transport) return;
    transport.off('frame', this.onFrame);
    transport.off('close', this.onTransportClose);
    this.transport = undefined;
    this.stopTimer();
  }

  setHandler(handler: PayloadHandler | undefined): void {
    this.handler = handler;
  }

  /** From now on, payloads are encrypted on send and decrypted before delivery. */
  setCipher(cipher: PayloadCipher | undefined): void {
    this.cipher = cipher;
  }

  /**
   * Stops (true) or restarts (false) reading the connection. Used when a local sink
   * cannot keep up: the agent's writes then block on TCP, as with the official client,
   * instead of frames being refused and resent one per 100 ms by the agent.
   */
  holdIncoming(hold: boolean): void {
    if (this.incomingHeld === hold) return;
    this.incomingHeld = hold;
    if (hold) this.transport?.pause();
    else this.transport?.resume();
  }

  /** Delivers buffered out-of-order frames once a handler that refused becomes ready. */
  deliverPending(): void {
    this.drainReorderBuffer();
  }

  /**
   * Numbers, buffers and (when connected and not paused) transmits one payload.
   * Never drops: returns false when the window is full, and 'drain' follows.
   */
  send(payloadType: number, payload: Buffer): boolean {
    if (this.closed) return false;
    if (this.cipher) payload = this.cipher.encrypt(payloadType, payload);
    const sequenceNumber = this.nextOutgoingSequence++;
    const bytes = encodeFrame({
      messageType: this.outgoingType,
      schemaVersion: 1,
      createdDate: Date.now(),
      sequenceNumber,
      flags: this.headerFlags(sequenceNumber),
      payloadType,
      payload,
    }, this.allocateFrame);
    if (this.window.size === 0) this.lastProgressAt = this.now();
    const entry = this.window.add(sequenceNumber, bytes);
    if (this.canTransmit()) this.transmit(entry);
    this.armTimer();
    const writable = this.writable;
    if (!writable) this.producerBlocked = true;
    return writable;
  }

  /**
   * Resolves true once every sent frame is acknowledged, or false after `timeoutMs`
   * (used to let a TerminateSession flag reach the agent before exiting, quirk Q10).
   */
  flushed(timeoutMs: number): Promise<boolean> {
    if (this.window.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const check = () => {
        if (this.window.size === 0) finish(true);
      };
      const finish = (done: boolean) => {
        clearTimeout(timer);
        this.off('acknowledged', check);
        resolve(done);
      };
      this.on('acknowledged', check);
    });
  }

  close(): void {
    this.closed = true;
    this.stopTimer();
    this.detach();
    this.reorder.clear();
  }

  receive(data: Buffer): void {
    if (this.closed) return;
    let frame: Frame;
    try {
      frame = decodeFrame(data, DECODE_OPTIONS);
    } catch (err) {
      this.stats.invalidFrames++;
      const reason = err instanceof FrameError ? err.reason : String(err);
      this.log.debug(`dropped invalid frame (${data.length} bytes): ${reason}`);
      this.emit('invalid_frame', err);
      return;
    }
    switch (frame.messageType) {
      case MessageType.Acknowledge:
        this.resumePublication();
        this.onAcknowledge(frame);
        return;
      case this.incomingType:
        this.resumePublication();
        this.onSequencedFrame(frame, data);
        return;
      case MessageType.PausePublication:
        this.pausePublication();
        return;
      case MessageType.StartPublication:
        this.resumePublication();
        return;
      case MessageType.ChannelClosed:
        this.emit('channel_closed', decodeChannelClosedOutput(frame.payload));
        return;
      default:
        this.log.debug(`ignored frame of type ${frame.messageType}`);
    }
  }

  /** `wire` is the frame as received, which its ack is written from. */
  private onSequencedFrame(frame: Frame, wire: Buffer): void {
    this.stats.framesReceived++;
    const seq = frame.sequenceNumber;
    if (seq < this.expectedIncomingSequence) {
      // Already delivered: re-ack so the peer stops retransmitting (official quirk Q3).
      this.stats.duplicatesReceived++;
      this.acknowledge(frame, wire);
      return;
    }
    if (seq > this.expectedIncomingSequence) {
      this.stats.outOfOrderReceived++;
      if (this.reorder.store(frame)) this.acknowledge(frame, wire);
      else this.log.debug(`reorder buffer full; dropped seq ${seq}`);
      return;
    }
    if (this.dispatch(frame, wire)) {
      // A copy kept out of order earlier (its drain refused, then resent) is now stale.
      this.reorder.delete(seq);
      this.expectedIncomingSequence++;
      this.drainReorderBuffer();
    }
  }

  private drainReorderBuffer(): void {
    for (;;) {
      const frame = this.reorder.peek(this.expectedIncomingSequence);
      if (!frame || !this.dispatch(frame, undefined)) return;
      this.reorder.delete(frame.sequenceNumber);
      this.expectedIncomingSequence++;
    }
  }

  /**
   * Hands one in-order frame to the handler; buffered frames go the same way (Q4).
   * `wire` is set for a frame just received and not yet acknowledged (undefined for one
   * from the reorder buffer, acknowledged when stored).
   */
  private dispatch(frame: Frame, wire: Buffer | undefined): boolean {
    if (HANDSHAKE_TYPES.has(frame.payloadType)) {
      if (wire) this.acknowledge(frame, wire);
      this.handler?.(frame.payloadType, frame.payload, frame);
      return true;
    }
    const handler = this.handler;
    if (!handler) return false;
    let payload = frame.payload;
    if (this.cipher) {
      try {
        payload = this.cipher.decrypt(frame.payloadType, payload);
      } catch (err) {
        // Never hand undecryptable bytes on: the session cannot continue safely.
        this.emit('cipher_error', err);
        return false;
      }
    }
    if (!handler(frame.payloadType, payload, frame)) return false;
    if (wire) this.acknowledge(frame, wire);
    return true;
  }

  private acknowledge(frame: Frame, wire: Buffer): void {
    const transport = this.transport;
    if (!transport) return;
    transport.sendAcknowledgement(writeAcknowledgeFrame(wire, frame.messageType, frame.sequenceNumber));
  }

  private onAcknowledge(frame: Frame): void {
    const seq = decodeAcknowledgedSequence(frame.payload);
    if (seq === undefined) return;
    this.stats.acksReceived++;
    const entry = this.window.acknowledge(seq);
    if (!entry) return;
    const now = this.now(); // one clock read per ack
    this.lastProgressAt = now;
    this.stallReported = false;
    // Karn's rule: the ack of a resent frame may answer any of its sends; no RTT sample.
    if (entry.sends === 1) {
      const rtt = now - entry.lastSent;
      this.rto.sample(rtt);
      this.congestion?.onAck(entry, now, rtt);
      this.frameBuffers.give(entry.bytes);
    } else if (entry.sends > 0) {
      this.congestion?.onAck(entry, now, undefined);
    }
    this.window.release(entry);
    if (this.congestion && (this.stats.acksReceived & 4095) === 0) this.logPath();
    if (this.window.size === 0) this.stopTimer();
    this.emit('acknowledged', seq);
    // Producers resume once an eighth of the window is free: waiting for half of a wide
    // window would hold an interactive frame back for half a round trip.
    const limit = this.windowLimit;
    const room = this.drainAtFirstRoom ? 1 : Math.max(1, limit >> 3);
    if (this.producerBlocked && this.window.size <= limit - room) {
      this.producerBlocked = false;
      this.drainAtFirstRoom = false;
      this.emit('drain');
    }
  }

  private logPath(): void {
    const c = this.congestion!;
    this.log.debug(
      `window ${c.frames} frames (${c.inStartup ? 'startup' : 'sized'}), ${this.window.size} in flight, ` +
        `rate ${c.deliveryRate.toFixed(2)} frames/ms, min rtt ${c.minRtt.toFixed(1)} ms, srtt ${this.rto.srtt.toFixed(1)} ms`,
    );
  }

  private pausePublication(): void {
    if (this.paused) return;
    this.paused = true;
    this.stopTimer();
    this.log.debug('publication paused by the service');
    this.emit('paused');
  }

  private resumePublication(): void {
    if (!this.paused) return;
    this.paused = false;
    this.log.debug('publication resumed');
    this.lastProgressAt = this.now();
    this.emit('resumed');
    this.retransmitAll();
  }

  private canTransmit(): boolean {
    return this.transport !== undefined && !this.paused;
  }

  private transmit(entry: PendingFrame): void {
    const now = this.now();
    if (entry.sends > 0) this.stats.framesResent++;
    else {
      this.stats.framesSent++;
      this.congestion?.onSend(entry, now, this.window.size);
    }
    entry.sends++;
    entry.lastSent = now;
    this.transport?.send(entry.bytes);
  }

  private retransmitAll(): void {
    if (!this.canTransmit()) return;
    for (const entry of this.window.values()) this.transmit(entry);
    this.armTimer();
  }

  /** The one retransmission timer: armed for the earliest deadline of any pending frame. */
  private armTimer(): void {
    if (this.timer || this.immediate || this.window.size === 0 || !this.canTransmit()) return;
    let earliest = Infinity;
    for (const entry of this.window.values()) {
      const sent = entry.sends > 0 ? entry.lastSent : this.now();
      if (sent < earliest) earliest = sent;
    }
    this.timer = setTimeout(this.onTimer, Math.max(1, earliest + this.rto.rto - this.now()));
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private readonly onTimer = (): void => {
    // Timers run before the poll phase: let acks already received be read first.
    this.timer = undefined;
    this.immediate = setImmediate(this.onTimerAfterIo);
  };

  private readonly onTimerAfterIo = (): void => {
    this.immediate = undefined;
    if (!this.canTransmit()) return;
    // Over one TCP connection a frame is only lost if the agent refused it. While acks
    // still arrive (or cannot: we hold incoming, or our own frames are still queued
    // locally) the unacked frames are just queued behind others: resending them would
    // only add duplicates to the queue, and did (as many resends as first sends).
    const sinceProgress = this.now() - this.lastProgressAt;
    if (!this.stallReported && sinceProgress > this.stallTimeoutMs) {
      this.stallReported = true;
      this.emit('stalled');
    }
    const rto = Math.max(this.rto.rto, MIN_RESEND_MS);
    if (this.incomingHeld || (this.transport?.bufferedAmount ?? 0) > 0 || sinceProgress < rto) {
      this.timer = setTimeout(this.onTimer, Math.max(10, rto - sinceProgress));
      return;
    }
    const now = this.now();
    let resent = 0;
    // Every overdue frame goes again, not only the oldest (official quirk Q2).
    for (const entry of this.window.values()) {
      if (entry.sends === 0 || now - entry.lastSent >= rto) {
        this.transmit(entry);
        resent++;
      }
    }
    if (resent > 0) {
      this.rto.backoff();
      this.congestion?.onTimeout();
    }
    if (resent > 0) this.log.debug(`retransmitted ${resent} frames (rto ${rto.toFixed(1)} ms, window ${this.window.size})`);
    if (!this.stallReported && now - this.lastProgressAt > this.stallTimeoutMs) {
      this.stallReported = true;
      this.emit('stalled');
    }
    this.armTimer();
  };
}
