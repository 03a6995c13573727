// A data-channel client for simulator tests, written from the codec and PROTOCOL.md alone
// (none of the plugin's session code): acks output, reassembles in-order payloads by type,
// and can answer handshakes, including KMS (GenerateDataKey over HTTP, challenge, cipher).
// It can also withhold acks, send out of order, and retransmit its oldest unacked input
// (as the official client does) so that frames the agent refuses are not lost.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { decodeFrame, FrameError, type Frame } from '../../src/protocol/frame.ts';
import { decryptPayload, encryptPayload, splitDataKey } from '../../src/protocol/kms-cipher.ts';
import { newUuid } from '../../src/protocol/uuid.ts';
import { encodeAcknowledgeFrame } from '../../src/protocol/control-frames.ts';
import { decodeAcknowledgedSequence, encodeFlag } from '../../src/protocol/payloads.ts';
import { inputFrame } from './frame-builders.ts';

export const AUTH =
  'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=00';

export interface ApiResult {
  status: number;
  json: any;
}

/** One JSON 1.1 call to the simulator endpoint with a full X-Amz-Target. */
export async function callTarget(endpoint: string, target: string, body: unknown): Promise<ApiResult> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': target, Authorization: AUTH },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

export async function ssm(endpoint: string, operation: string, body: unknown): Promise<any> {
  const result = await callTarget(endpoint, `AmazonSSM.${operation}`, body);
  if (result.status !== 200) throw new Error(`${operation}: ${JSON.stringify(result.json)}`);
  return result.json;
}

export interface Received {
  at: number;
  bytes: Buffer;
  frame: Frame | undefined;
  error: FrameError | undefined;
}

/** An in-order agent payload as the client sees it (decrypted when KMS is on). */
export interface Payload {
  seq: number;
  payloadType: number;
  /** Wire bytes (ciphertext when encrypted). */
  wire: Buffer;
  /** Plaintext; undefined when decryption failed. */
  data: Buffer | undefined;
  /** The frame and its bytes as received. */
  frame: Frame;
  bytes: Buffer;
}

export interface HandshakeBehaviour {
  /** Answer the HandshakeRequest at all (default true). */
  respond?: boolean;
  clientVersion?: string;
  /** Set ChallengeAcknowledgement and add RandomChallenge to the context (default true if a Challenge came). */
  acknowledgeChallenge?: boolean;
  /** Context used for GenerateDataKey; default per §8.2. */
  contextOverride?: (context: Record<string, string>) => Record<string, string>;
  /** aws:ssm:TargetId for the context (default: `target` given to open()). */
  targetId?: string;
  /** Answer the EncChallengeRequest (default true). */
  answerChallenge?: boolean;
  /** Send a wrong challenge answer. */
  wrongChallengeAnswer?: boolean;
  /** The KMS key for GenerateDataKey (default: the one the agent asked for). */
  keyId?: string;
  /** Replaces the HandshakeResponse: an object is sent as JSON, a string as it is. */
  responseOverride?: (response: any) => unknown;
}

export interface ClientOptions {
  sessionId: string;
  target: string;
  /** The KMS endpoint (the simulator's). */
  endpoint: string;
  handshake?: HandshakeBehaviour;
  clientVersion?: string;
  /** ClientId in OpenDataChannel (default c0ffee00-0000-4000-8000-000000000002). */
  clientId?: string;
  /** First sequence number to send / expect (a resumed connection continues both). */
  nextSeq?: number;
  expectedSeq?: number;
  /** Default deadline of until() and untilText() (default 8000 ms). */
  timeoutMs?: number;
  /** Resend the oldest unacked input frame once it is this old (checked every 50 ms); off by default. */
  retransmitMs?: number;
  /** Throw on a frame that does not decode, instead of recording it (for tests without fault injection). */
  strictFrames?: boolean;
}

export class RawClient {
  readonly ws: WebSocket;
  readonly received: Received[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** In-order output_stream_data payloads. */
  readonly payloads: Payload[] = [];
  nextSeq: number;
  expectedSeq: number;
  /** Output sequence numbers deliberately not acked (once each). */
  readonly withholdAck = new Set<number>();
  /** Input frames sent and not acked yet, by sequence number. */
  readonly unacked = new Map<number, { bytes: Buffer; sentAt: number }>();
  /** Retransmissions of unacked input so far (see retransmitMs). */
  resends = 0;
  /** Called with each in-order payload as it is processed. */
  onPayload: ((payload: Payload) => void) | undefined;
  handshakeRequest: any;
  handshakeResponse: any;
  handshakeComplete: any;
  challengeRequest: any;
  /** The 64-byte data key from GenerateDataKey. */
  dataKey: Buffer | undefined;
  generateDataKeyContext: Record<string, string> | undefined;
  readonly options: ClientOptions;
  private readonly pending = new Map<number, { frame: Frame; bytes: Buffer }>();
  private waiters: Array<() => void> = [];
  private retransmitTimer: NodeJS.Timeout | undefined;

  private constructor(url: string, options: ClientOptions) {
    this.options = options;
    this.nextSeq = options.nextSeq ?? 0;
    this.expectedSeq = options.expectedSeq ?? 0;
    this.ws = new WebSocket(url);
    this.ws.on('message', (data: Buffer) => this.onMessage(data));
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.stopRetransmitting();
        resolve({ code, reason: reason.toString() });
        this.notify();
      });
    });
    this.ws.on('error', () => undefined);
    const retransmitMs = options.retransmitMs;
    if (retransmitMs !== undefined) this.retransmitTimer = setInterval(() => this.resendOldest(retransmitMs), 50);
  }

  /** Opens the WebSocket without sending OpenDataChannel. */
  static async connect(url: string, options: ClientOptions): Promise<RawClient> {
    const client = new RawClient(url, options);
    await new Promise<void>((resolve, reject) => {
      client.ws.once('open', () => resolve());
      client.ws.once('error', reject);
    });
    return client;
  }

  static async open(url: string, token: string, options: ClientOptions): Promise<RawClient> {
    const client = await RawClient.connect(url, options);
    client.sendOpenDataChannel(token);
    return client;
  }

  sendOpenDataChannel(token: string): void {
    this.ws.send(
      JSON.stringify({
        MessageSchemaVersion: '1.0',
        RequestId: newUuid(),
        TokenValue: token,
        ClientId: this.options.clientId ?? 'c0ffee00-0000-4000-8000-000000000002',
        ClientVersion: this.options.clientVersion ?? '1.2.700.0',
      }),
    );
  }

  get keys(): { agentEncrypt: Buffer; clientEncrypt: Buffer } | undefined {
    return this.dataKey ? splitDataKey(this.dataKey) : undefined;
  }

  get encrypted(): boolean {
    return this.dataKey !== undefined && this.handshakeComplete !== undefined;
  }

  /**
   * Sends one input_stream_data frame (PayloadType 1 is encrypted once KMS is on, unless
   * raw) and returns its bytes. An explicit `seq` is sent as is and does not advance nextSeq.
   */
  input(data: string | Buffer, payloadType = 1, options: { raw?: boolean; seq?: number } = {}): Buffer {
    let payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (payloadType === 1 && this.encrypted && !options.raw) {
      payload = encryptPayload((this.keys as { clientEncrypt: Buffer }).clientEncrypt, payload);
    }
    const seq = options.seq ?? this.nextSeq++;
    const bytes = inputFrame(seq, payload, payloadType);
    this.unacked.set(seq, { bytes, sentAt: Date.now() });
    this.ws.send(bytes);
    return bytes;
  }

  /** Sends `data` as Output payloads of at most 1024 bytes. */
  sendData(data: Buffer): void {
    for (let offset = 0; offset < data.length; offset += 1024) this.input(data.subarray(offset, offset + 1024));
  }

  /** Sends a Flag payload (PayloadType 10). */
  flag(code: number): Buffer {
    return this.input(encodeFlag(code), 10);
  }

  frames(type?: string): Frame[] {
    return this.received
      .map((r) => r.frame)
      .filter((f): f is Frame => f !== undefined && (type === undefined || f.messageType === type));
  }

  /** The acknowledge frames received for our sequence number `seq`. */
  acksFor(seq: number): Frame[] {
    return this.frames('acknowledge').filter(
      (f) => (JSON.parse(f.payload.toString()) as { AcknowledgedMessageSequenceNumber: number }).AcknowledgedMessageSequenceNumber === seq,
    );
  }

  /** Plaintext of in-order payloads of one type (default Output), one buffer a frame. */
  outputs(payloadType = 1): Buffer[] {
    return this.payloads.filter((p) => p.payloadType === payloadType && p.data).map((p) => p.data as Buffer);
  }

  /** Concatenated plaintext of in-order payloads of these types. */
  text(...types: number[]): string {
    const wanted = types.length === 0 ? [1] : types;
    return this.payloads
      .filter((p) => wanted.includes(p.payloadType) && p.data)
      .map((p) => (p.data as Buffer).toString('utf8'))
      .join('');
  }

  channelClosed(): any {
    const frame = this.frames('channel_closed')[0];
    return frame ? JSON.parse(frame.payload.toString()) : undefined;
  }

  async until<T>(check: () => T | undefined | false, what: string, timeoutMs = this.options.timeoutMs ?? 8000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${what}; text so far: ${JSON.stringify(this.text(1, 11, 12))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 20));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  untilText(pattern: RegExp, types: number[] = [1], timeoutMs?: number): Promise<RegExpMatchArray> {
    return this.until(() => this.text(...types).match(pattern) ?? undefined, `text ${pattern}`, timeoutMs);
  }

  /** Waits until nothing has arrived for `quietMs`. */
  async quiet(quietMs = 150): Promise<void> {
    for (;;) {
      const last = this.received.at(-1)?.at ?? 0;
      const idle = Date.now() - last;
      if (idle >= quietMs) return;
      await sleep(quietMs - idle);
    }
  }

  close(): void {
    this.stopRetransmitting();
    this.ws.terminate();
  }

  private stopRetransmitting(): void {
    clearInterval(this.retransmitTimer);
  }

  private resendOldest(afterMs: number): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const oldest = this.unacked.values().next();
    if (oldest.done) return;
    const entry = oldest.value;
    if (Date.now() - entry.sentAt < afterMs) return;
    entry.sentAt = Date.now();
    this.resends++;
    this.ws.send(entry.bytes);
  }

  private onMessage(data: Buffer): void {
    let frame: Frame | undefined;
    let error: FrameError | undefined;
    try {
      frame = decodeFrame(data);
    } catch (e) {
      if (!(e instanceof FrameError) || this.options.strictFrames) throw e;
      error = e;
    }
    this.received.push({ at: Date.now(), bytes: data, frame, error });
    if (frame?.messageType === 'output_stream_data') this.onOutput(frame, data);
    else if (frame?.messageType === 'acknowledge') {
      const seq = decodeAcknowledgedSequence(frame.payload);
      if (seq !== undefined) this.unacked.delete(seq);
    } else if (frame?.messageType === 'channel_closed') this.stopRetransmitting();
    this.notify();
  }

  private onOutput(frame: Frame, bytes: Buffer): void {
    const seq = frame.sequenceNumber;
    if (this.withholdAck.delete(seq)) return;
    // Ack before processing, as the official client does.
    this.ws.send(
      encodeAcknowledgeFrame(frame),
    );
    if (seq < this.expectedSeq) return;
    this.pending.set(seq, { frame, bytes });
    for (let next = this.pending.get(this.expectedSeq); next; next = this.pending.get(this.expectedSeq)) {
      this.pending.delete(this.expectedSeq);
      this.expectedSeq++;
      void this.process(next.frame, next.bytes);
    }
  }

  private process(frame: Frame, bytes: Buffer): void {
    const wire = Buffer.from(frame.payload);
    let data: Buffer | undefined = wire;
    if ([1, 11, 12].includes(frame.payloadType) && this.encrypted) {
      try {
        data = decryptPayload((this.keys as { agentEncrypt: Buffer }).agentEncrypt, wire);
      } catch {
        data = undefined;
      }
    }
    const payload: Payload = { seq: frame.sequenceNumber, payloadType: frame.payloadType, wire, data, frame, bytes };
    this.payloads.push(payload);
    this.onPayload?.(payload);
    if (frame.payloadType === 5) void this.onHandshakeRequest(JSON.parse(wire.toString()));
    else if (frame.payloadType === 8) this.onChallenge(JSON.parse(wire.toString()));
    else if (frame.payloadType === 7) this.handshakeComplete = JSON.parse(wire.toString());
  }

  private async onHandshakeRequest(request: any): Promise<void> {
    this.handshakeRequest = request;
    const behaviour = this.options.handshake ?? {};
    if (behaviour.respond === false) return;
    const processed: any[] = [];
    for (const action of request.RequestedClientActions as any[]) {
      if (action.ActionType === 'SessionType') {
        processed.push({ ActionType: 'SessionType', ActionStatus: 1, ActionResult: null, Error: '' });
      } else if (action.ActionType === 'KMSEncryption') {
        const challenge: string | undefined = action.ActionParameters.Challenge || undefined;
        const acknowledge = challenge !== undefined && (behaviour.acknowledgeChallenge ?? true);
        let context: Record<string, string> = {
          'aws:ssm:SessionId': this.options.sessionId,
          'aws:ssm:TargetId': behaviour.targetId ?? this.options.target,
        };
        if (acknowledge) context['aws:ssm:RandomChallenge'] = challenge as string;
        if (behaviour.contextOverride) context = behaviour.contextOverride(context);
        this.generateDataKeyContext = context;
        const result = await callTarget(this.options.endpoint, 'TrentService.GenerateDataKey', {
          KeyId: behaviour.keyId ?? action.ActionParameters.KMSKeyId,
          NumberOfBytes: 64,
          EncryptionContext: context,
        });
        if (result.status !== 200) throw new Error(`GenerateDataKey: ${JSON.stringify(result.json)}`);
        this.dataKey = Buffer.from(result.json.Plaintext, 'base64');
        const actionResult: Record<string, unknown> = {
          KMSCipherTextKey: result.json.CiphertextBlob,
          KMSCipherTextHash: null,
        };
        if (acknowledge) actionResult.ChallengeAcknowledgement = true;
        processed.push({ ActionType: 'KMSEncryption', ActionStatus: 1, ActionResult: actionResult, Error: '' });
      } else {
        processed.push({ ActionType: action.ActionType, ActionStatus: 3, ActionResult: null, Error: 'unsupported' });
      }
    }
    this.handshakeResponse = {
      ClientVersion: behaviour.clientVersion ?? this.options.clientVersion ?? '1.2.700.0',
      ProcessedClientActions: processed,
      Errors: null,
    };
    const sent = behaviour.responseOverride ? behaviour.responseOverride(this.handshakeResponse) : this.handshakeResponse;
    this.input(typeof sent === 'string' ? sent : JSON.stringify(sent), 6);
  }

  private onChallenge(request: any): void {
    this.challengeRequest = request;
    const behaviour = this.options.handshake ?? {};
    if (behaviour.answerChallenge === false || !this.keys) return;
    let secret: Buffer;
    try {
      secret = decryptPayload(this.keys.agentEncrypt, Buffer.from(request.Challenge, 'base64'));
    } catch {
      return; // a client that cannot decrypt the challenge gives up
    }
    if (behaviour.wrongChallengeAnswer) secret = Buffer.alloc(secret.length, 7);
    const answer = encryptPayload(this.keys.clientEncrypt, secret).toString('base64');
    this.input(JSON.stringify({ Challenge: answer }), 9);
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

export interface StartResponse {
  SessionId: string;
  TokenValue: string;
  StreamUrl: string;
}

/** StartSession and open a raw client on it. */
export async function startAndOpen(
  endpoint: string,
  body: Record<string, unknown>,
  options: Omit<ClientOptions, 'sessionId' | 'target' | 'endpoint'> = {},
): Promise<{ client: RawClient; sessionId: string; start: StartResponse }> {
  const start: StartResponse = await ssm(endpoint, 'StartSession', body);
  const client = await RawClient.open(start.StreamUrl, start.TokenValue, {
    ...options,
    sessionId: start.SessionId,
    target: String(body.Target),
    endpoint,
  });
  return { client, sessionId: start.SessionId, start };
}

export { sleep };
