import { randomBytes } from 'node:crypto';
import { PayloadType } from '../../protocol/constants.ts';
import {
  ActionStatus,
  decodeHandshakeResponse,
  getFold,
  type HandshakeComplete,
  type HandshakeRequest,
  type HandshakeResponse,
  type RequestedClientAction,
} from '../../protocol/payloads.ts';
import type { AgentChannel } from './agent-channel.ts';
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

/** The agent's wait for HandshakeResponse (and for a challenge response) (§8.5, §9.5). */
export const HANDSHAKE_TIMEOUT_MS = 15_000;
export const HANDSHAKE_TIMEOUT_MESSAGE =
  'Handshake timed out. Please ensure that you have the latest version of the session manager plugin.';

/** The handshake failed; `message` is what the session ends with. */
export class HandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeError';
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
  response: HandshakeResponse;
  /** Set when KMS encryption was negotiated; already installed on the channel. */
  cipher?: AgentCipher;
}

/**
 * Runs the agent's side of §5.3 (and §8.5 with KMS): HandshakeRequest, wait for
 * HandshakeResponse, check every processed action succeeded; with KMS, Decrypt the data
 * key with the session's encryption context, send EncChallengeRequest and verify the
 * EncChallengeResponse; then HandshakeComplete with the elapsed time in nanoseconds. The
 * channel must already have `handshakeRequired` set, so that other input is acked and
 * discarded meanwhile.
 */
export async function performHandshake(
  channel: AgentChannel,
  options: HandshakeOptions,
): Promise<HandshakeOutcome> {
  const started = process.hrtime.bigint();
  const timeoutMs = options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const kms = options.sessionType === 'Port' ? undefined : options.kms;
  const challenge = kms?.randomChallenge ? newRandomChallenge() : undefined;
  const actions: RequestedClientAction[] = [
    {
      ActionType: 'SessionType',
      ActionParameters: { SessionType: options.sessionType, Properties: options.properties },
    },
  ];
  if (kms) {
    actions.push({
      ActionType: 'KMSEncryption',
      ActionParameters: challenge === undefined ? { KMSKeyId: kms.keyId } : { KMSKeyId: kms.keyId, Challenge: challenge },
    });
  }
  const request: HandshakeRequest = { AgentVersion: options.agentVersion, RequestedClientActions: actions };
  const responsePayload = waitForPayload(
    channel,
    PayloadType.HandshakeResponse,
    timeoutMs,
    HANDSHAKE_TIMEOUT_MESSAGE,
    options.signal,
  );
  channel.sendStream(PayloadType.HandshakeRequest, Buffer.from(JSON.stringify(request)));
  const response = decodeHandshakeResponse(await responsePayload);
  if (!response) throw new HandshakeError('Failed to parse the handshake response.');
  const failed = response.ProcessedClientActions.filter((a) => a.ActionStatus !== ActionStatus.Success);
  if (failed.length > 0 || response.ProcessedClientActions.length === 0) {
    const reasons = failed.map((a) => a.Error || `${a.ActionType} failed`);
    throw new HandshakeError(`Handshake failed: ${reasons.join('; ') || 'no actions processed'}`);
  }
  let cipher: AgentCipher | undefined;
  if (kms) {
    cipher = processKmsAction(response, kms, challenge);
    await runChallenge(channel, cipher, timeoutMs, options.signal);
    channel.cipher = cipher;
  }
  const messages = [options.customerMessage?.(response.ClientVersion) ?? ''];
  if (cipher) messages.push(KMS_CUSTOMER_MESSAGE);
  const complete: HandshakeComplete = {
    HandshakeTimeToComplete: Number(process.hrtime.bigint() - started),
    CustomerMessage: messages.join(''),
  };
  channel.handshakeComplete = true;
  channel.sendStream(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify(complete)));
  return cipher
    ? { clientVersion: response.ClientVersion, response, cipher }
    : { clientVersion: response.ClientVersion, response };
}

/** Reads the KMSEncryption result and decrypts the data key as KMS would (§8.2, §8.5). */
function processKmsAction(response: HandshakeResponse, kms: AgentKmsOptions, challenge: string | undefined): AgentCipher {
  const action = response.ProcessedClientActions.find((a) => a.ActionType === 'KMSEncryption');
  if (!action) throw new HandshakeError('Handshake failed: the client did not process the KMSEncryption action.');
  const cipherTextKey = getFold(action.ActionResult, 'KMSCipherTextKey');
  if (typeof cipherTextKey !== 'string' || cipherTextKey.length === 0) {
    throw new HandshakeError('Handshake failed: KMSEncryption result has no KMSCipherTextKey.');
  }
  const acknowledged = challenge !== undefined && getFold(action.ActionResult, 'ChallengeAcknowledgement') === true;
  if (challenge !== undefined && !acknowledged && kms.requireChallengeAck) {
    throw new HandshakeError(CHALLENGE_ACK_REQUIRED_MESSAGE);
  }
  const context = agentEncryptionContext(kms.sessionId, kms.targetId, acknowledged ? challenge : undefined);
  let dataKey: Buffer;
  try {
    dataKey = kms.decryptDataKey(Buffer.from(cipherTextKey, 'base64'), context);
  } catch (error) {
    const type = (error as { type?: unknown }).type;
    const detail = error instanceof Error ? error.message : String(error);
    throw new HandshakeError(
      `Fetching data key failed: Error calling KMS Decrypt API: ${typeof type === 'string' ? type : 'Error'}${detail ? `: ${detail}` : ''}`,
    );
  }
  if (dataKey.length !== 64) {
    throw new HandshakeError(`Fetching data key failed: expected a 64-byte data key, got ${dataKey.length} bytes.`);
  }
  return new AgentCipher(dataKey, kms.faults);
}

/** EncChallengeRequest / EncChallengeResponse (§4.7, §8.5). */
async function runChallenge(
  channel: AgentChannel,
  cipher: AgentCipher,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const secret = randomBytes(CHALLENGE_BYTES);
  const responsePayload = waitForPayload(
    channel,
    PayloadType.EncChallengeResponse,
    timeoutMs,
    CHALLENGE_TIMEOUT_MESSAGE,
    signal,
  );
  const request = { Challenge: cipher.encryptChallenge(secret).toString('base64') };
  channel.sendStream(PayloadType.EncChallengeRequest, Buffer.from(JSON.stringify(request)));
  const payload = await responsePayload;
  let encoded: unknown;
  try {
    encoded = getFold(JSON.parse(payload.toString('utf8')), 'Challenge');
  } catch {
    encoded = undefined;
  }
  if (typeof encoded !== 'string') throw new HandshakeError('Failed to parse the encryption challenge response.');
  let answer: Buffer;
  try {
    answer = cipher.decrypt(Buffer.from(encoded, 'base64'));
  } catch {
    throw new HandshakeError('Failed to decrypt the encryption challenge response.');
  }
  if (!answer.equals(secret)) throw new HandshakeError('Encryption challenge does not match.');
}

/** Resolves with the first payload of `payloadType`; rejects on timeout or abort. */
function waitForPayload(
  channel: AgentChannel,
  payloadType: number,
  timeoutMs: number,
  timeoutMessage: string,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      channel.setHandshakeHandler(undefined);
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
    channel.setHandshakeHandler((frame) => {
      // Anything else of the two handshake types (a stray or duplicate one) is consumed.
      if (frame.payloadType === payloadType) {
        finish();
        resolve(Buffer.from(frame.payload));
      }
      return 'accepted';
    });
  });
}
