import { randomBytes } from 'node:crypto';
import { PayloadType } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import { KMS_NONCE_BYTES } from '../../protocol/kms-cipher.ts';
import { ActionStatus, type HandshakeComplete, type HandshakeRequest, type RequestedClientAction } from '../../protocol/payloads.ts';
import { newUuid } from '../../protocol/uuid.ts';
import type { AgentChannel, InputVerdict } from './agent-channel.ts';
import { parseChallengeResponse, parseHandshakeResponse, parseKmsEncryptionResponse } from './go-json.ts';
import {
  agentEncryptionContext,
  AgentCipher,
  CHALLENGE_ACK_REQUIRED_MESSAGE,
  CHALLENGE_BYTES,
  CHALLENGE_TIMEOUT_MESSAGE,
  KMS_CUSTOMER_MESSAGE,
  newRandomChallenge,
  type AgentKmsOptions,
} from './kms-encryption.ts';
import type { SessionType } from './session-plugin.ts';

/** The agent's wait for HandshakeResponse and for a challenge response (datachannel.go, handshakeTimeout). */
export const HANDSHAKE_TIMEOUT_MS = 15_000;
export const HANDSHAKE_TIMEOUT_MESSAGE =
  'Handshake timed out. Please ensure that you have the latest version of the session manager plugin.';
/**
 * What runpluginutil reports when the plugin goroutine panics: here, encrypting the
 * challenge with a cipher that never got a key (no KMSEncryption action was processed).
 */
export const PLUGIN_CRASH_MESSAGE = 'Plugin crashed with message runtime error: invalid memory address or nil pointer dereference!';

/** The handshake failed; `message` is what the session ends with (after sessionplugin.go's prefix). */
export class HandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

/** The plugin goroutine panicked: the session fails with runpluginutil's message, no prefix. */
export class PluginCrash extends Error {
  constructor() {
    super(PLUGIN_CRASH_MESSAGE);
    this.name = 'PluginCrash';
  }
}

export interface HandshakeOptions {
  agentVersion: string;
  sessionType: SessionType;
  /** SessionType action properties: null for shell-like types, document properties for Port. */
  properties: Record<string, string> | null;
  /** Text for HandshakeComplete, decided from the client version (§11.3). */
  customerMessage?: (clientVersion: string) => string;
  /** Both the response wait and the challenge wait (default 15 s each). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Request KMSEncryption and run the challenge exchange (§8); never for Port. */
  kms?: AgentKmsOptions;
}

export interface HandshakeOutcome {
  clientVersion: string;
  /** Set when KMS encryption was negotiated; already installed on the channel. */
  cipher?: AgentCipher;
}

/**
 * The agent's side of §5.3 and §8.5 (agent/session/datachannel/datachannel.go,
 * PerformHandshake and the handlers its read loop calls):
 *
 * - HandshakeRequest, then up to 15 s for a HandshakeResponse. A response that does not
 *   unmarshal is an error of the read loop: not acknowledged, nothing else happens (so
 *   the wait times out). Otherwise every processed action is checked (status not
 *   Success: `<type> failed on client with status <n> error: <text>`; KMSEncryption:
 *   the data key is decrypted with KMS); an empty list is fine. Errors fail the session
 *   once the response is acknowledged.
 * - With KMS: EncChallengeRequest, then up to 15 s for an EncChallengeResponse that
 *   decrypts to the same 64 bytes. A wrong, unreadable or undecryptable answer is not
 *   acknowledged and changes nothing: the session fails with the timeout message.
 * - HandshakeComplete with the elapsed nanoseconds and the customer message.
 *
 * Meanwhile the channel decrypts every Output payload first (KMS): see AgentChannel.
 */
export async function performHandshake(channel: AgentChannel, options: HandshakeOptions): Promise<HandshakeOutcome> {
  const started = process.hrtime.bigint();
  const timeoutMs = options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const kms = options.sessionType === 'Port' ? undefined : options.kms;
  const challenge = kms?.randomChallenge ? newRandomChallenge() : undefined;
  const actions: RequestedClientAction[] = [
    { ActionType: 'SessionType', ActionParameters: { SessionType: options.sessionType, Properties: options.properties } },
  ];
  if (kms) {
    actions.push({
      ActionType: 'KMSEncryption',
      ActionParameters: challenge === undefined ? { KMSKeyId: kms.keyId } : { KMSKeyId: kms.keyId, Challenge: challenge },
    });
    channel.encryptionEnabled = true; // from here on Output payloads are decrypted first
  }
  const listener = new HandshakeListener(channel, kms, challenge);
  channel.setHandshakeHandler((frame) => listener.receive(frame));
  try {
    const request: HandshakeRequest = { AgentVersion: options.agentVersion, RequestedClientActions: actions };
    channel.sendStream(PayloadType.HandshakeRequest, Buffer.from(JSON.stringify(request)));
    await listener.wait('response', timeoutMs, HANDSHAKE_TIMEOUT_MESSAGE, options.signal);
    if (listener.error !== undefined) throw new HandshakeError(listener.error);
    if (kms) {
      const cipher = listener.cipher;
      if (!cipher) throw new PluginCrash();
      listener.secret = randomBytes(CHALLENGE_BYTES);
      const request = { Challenge: cipher.encryptChallenge(listener.secret).toString('base64') };
      channel.sendStream(PayloadType.EncChallengeRequest, Buffer.from(JSON.stringify(request)));
      await listener.wait('challenge', timeoutMs, CHALLENGE_TIMEOUT_MESSAGE, options.signal);
      if (listener.error !== undefined) throw new HandshakeError(listener.error);
    }
    const messages = [options.customerMessage?.(listener.clientVersion) ?? ''];
    if (kms) messages.push(KMS_CUSTOMER_MESSAGE);
    const complete: HandshakeComplete = {
      HandshakeTimeToComplete: Number(process.hrtime.bigint() - started),
      CustomerMessage: messages.join(''),
    };
    channel.handshakeComplete = true;
    channel.sendStream(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify(complete)));
    return listener.cipher ? { clientVersion: listener.clientVersion, cipher: listener.cipher } : { clientVersion: listener.clientVersion };
  } finally {
    listener.waiting = undefined;
  }
}

type Phase = 'response' | 'challenge';

/** The handshake's half of the agent's read loop: HandshakeResponse and EncChallengeResponse frames. */
class HandshakeListener {
  clientVersion = '';
  /** handshake.error: the last action or challenge failure. */
  error: string | undefined;
  cipher: AgentCipher | undefined;
  /** The challenge's plaintext, once sent. */
  secret: Buffer | undefined;
  /** What PerformHandshake is blocked on, and how to wake it. */
  waiting: { phase: Phase; resolve: () => void } | undefined;

  private readonly channel: AgentChannel;
  private readonly kms: AgentKmsOptions | undefined;
  private readonly challenge: string | undefined;

  constructor(channel: AgentChannel, kms: AgentKmsOptions | undefined, challenge: string | undefined) {
    this.channel = channel;
    this.kms = kms;
    this.challenge = challenge;
  }

  /** Resolves when woken in `phase`; rejects with `timeoutMessage` after `timeoutMs`, or on abort. */
  wait(phase: Phase, timeoutMs: number, timeoutMessage: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiting = undefined;
      };
      const onAbort = (): void => {
        finish();
        reject(new HandshakeError('Session cancelled during the handshake.'));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new HandshakeError(timeoutMessage));
      }, timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting = {
        phase,
        resolve: () => {
          finish();
          resolve();
        },
      };
    });
  }

  receive(frame: Frame): InputVerdict {
    return frame.payloadType === PayloadType.HandshakeResponse ? this.onResponse(frame.payload) : this.onChallengeResponse(frame.payload);
  }

  /** datachannel.go, handleHandshakeResponse. */
  private onResponse(payload: Buffer): InputVerdict {
    const response = parseHandshakeResponse(payload);
    if (!response) return 'not-ready'; // "Unmarshalling of HandshakeResponse message failed": no ack
    if (this.waiting?.phase !== 'response') {
      // Its send on the unbuffered response channel would block the read loop for good.
      this.channel.stopListening();
      return 'not-ready';
    }
    for (const action of response.ProcessedClientActions) {
      let failure: string | undefined;
      if (action.ActionStatus !== ActionStatus.Success) {
        failure = `${action.ActionType} failed on client with status ${action.ActionStatus} error: ${action.Error}`;
      } else if (action.ActionType === 'KMSEncryption' && this.kms) {
        const outcome = this.finalizeKms(action.ActionResult);
        if (outcome === 'crash') return 'not-ready';
        failure = outcome;
      }
      if (failure !== undefined) this.error = failure;
    }
    this.clientVersion = response.ClientVersion;
    this.waiting.resolve();
    return 'accepted';
  }

  /**
   * finalizeKMSEncryption: the data key, decrypted with KMS under the session's context
   * (and the KMS key id of the session preferences); an error text, or 'crash' when the
   * agent would panic in its read loop (a key shorter than 32 bytes).
   */
  private finalizeKms(actionResult: unknown): string | undefined | 'crash' {
    const kms = this.kms as AgentKmsOptions;
    const result = parseKmsEncryptionResponse(actionResult ?? null);
    if ('error' in result) return result.error;
    if (kms.requireChallengeAck && !result.ChallengeAcknowledgement) return CHALLENGE_ACK_REQUIRED_MESSAGE;
    const random = result.ChallengeAcknowledgement ? this.challenge : undefined;
    const context = agentEncryptionContext(kms.sessionId, kms.targetId, random);
    let dataKey: Buffer;
    try {
      dataKey = decryptWithKms(kms, result.KMSCipherTextKey, context);
    } catch (error) {
      return `Fetching data key failed: Unable to retrieve data key, Error when decrypting data key ${(error as Error).message}`;
    }
    if (dataKey.length < 32) {
      this.channel.stopListening();
      return 'crash';
    }
    if (dataKey.length !== 64) {
      // Each half must be an AES key; the agent's own cipher here only knows AES-256.
      return `Fetching data key failed: Error creating NewCipher, crypto/aes: invalid key size ${dataKey.length - 32}`;
    }
    this.cipher = new AgentCipher(dataKey, kms.faults);
    this.channel.cipher = this.cipher;
    return undefined;
  }

  /** datachannel.go, handleEncryptionChallengeResponse. */
  private onChallengeResponse(payload: Buffer): InputVerdict {
    const answer = parseChallengeResponse(payload);
    if (answer === undefined) return 'not-ready'; // does not unmarshal: no ack
    const cipher = this.cipher;
    if (!cipher || answer.length < KMS_NONCE_BYTES) {
      // No cipher (no encryption), or too short for a nonce: a panic in the read loop.
      this.channel.stopListening();
      return 'not-ready';
    }
    let plaintext: Buffer;
    try {
      plaintext = cipher.decrypt(answer);
    } catch {
      this.error = 'Error decrypting encrypted text, cipher: message authentication failed';
      return 'not-ready';
    }
    if (!this.secret || !plaintext.equals(this.secret)) {
      this.error = 'Encryption challenge does not match!';
      return 'not-ready';
    }
    if (this.waiting?.phase !== 'challenge') {
      this.channel.stopListening(); // a second confirmation would block the read loop
      return 'not-ready';
    }
    this.waiting.resolve();
    return 'accepted';
  }
}

/**
 * KMS Decrypt as the agent calls it (crypto/kmsservice.go): CiphertextBlob, the encryption
 * context and the KeyId of the session preferences. Errors read as the AWS SDK for Go
 * prints them (`Code: message` and the status line).
 */
function decryptWithKms(kms: AgentKmsOptions, blob: Buffer, context: Record<string, string>): Buffer {
  if (blob.length === 0) {
    throw new Error('InvalidParameter: 1 validation error(s) found.\n- minimum field size of 1, DecryptInput.CiphertextBlob.\n');
  }
  try {
    return kms.decryptDataKey(blob, context, kms.keyId);
  } catch (error) {
    const { type, status } = error as { type?: unknown; status?: unknown };
    const code = typeof type === 'string' ? type : 'InternalFailure';
    const statusCode = typeof status === 'number' ? status : 500;
    throw new Error(`${code}: ${(error as Error).message}\n\tstatus code: ${statusCode}, request id: ${newUuid()}`);
  }
}
