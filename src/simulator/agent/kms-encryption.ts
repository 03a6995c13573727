import { randomBytes } from 'node:crypto';
import {
  CounterNonce,
  decryptPayload,
  encryptPayload,
  KMS_NONCE_BYTES,
  splitDataKey,
} from '../../protocol/kms-cipher.ts';
import type { PayloadCipher } from './agent-channel.ts';

/**
 * The agent's half of KMS session encryption (PROTOCOL.md §8): the KMSEncryption action it
 * requests, the encryption context it decrypts the data key with, and the payload cipher
 * (agent encrypts with bytes 0..31 using a counter nonce, decrypts with bytes 32..63).
 */

export const KMS_CUSTOMER_MESSAGE = 'This session is encrypted using AWS KMS.';
export const CHALLENGE_TIMEOUT_MESSAGE = 'Timed out waiting for encryption challenge.';
export const CHALLENGE_ACK_REQUIRED_MESSAGE = 'client does not support required encryption context random challenge';
/** Bytes of random data in the EncChallengeRequest (§4.7). */
export const CHALLENGE_BYTES = 64;
/** Bytes of the random `Challenge` string in the newer KMSEncryption action (§4.4). */
export const RANDOM_CHALLENGE_BYTES = 16;

export const ENCRYPTION_CONTEXT_SESSION_ID = 'aws:ssm:SessionId';
export const ENCRYPTION_CONTEXT_TARGET_ID = 'aws:ssm:TargetId';
export const ENCRYPTION_CONTEXT_RANDOM_CHALLENGE = 'aws:ssm:RandomChallenge';

/** Test faults acting on the agent's cipher (see FaultInjector). */
export type WrongKeyMode = 'off' | 'output' | 'all' | 'input';

export interface KmsFaultHooks {
  /**
   * 'output': encrypt payloads (not the challenge) with a wrong key; 'all': the challenge
   * too; 'input': decrypt the client's payloads (the challenge answer too) with a wrong key.
   */
  wrongKeyMode(): WrongKeyMode;
  /** True (once per armed fault) when the next encrypted payload should be tampered with. */
  takeTamper(): boolean;
}

/** What the agent needs for a KMS handshake. */
export interface AgentKmsOptions {
  keyId: string;
  /** Send a random `Challenge` in the KMSEncryption action (newer agents). */
  randomChallenge: boolean;
  /** Fail clients that do not set ChallengeAcknowledgement (§8.5). */
  requireChallengeAck: boolean;
  sessionId: string;
  /** The agent's own target/instance id (aws:ssm:TargetId). */
  targetId: string;
  /**
   * KMS Decrypt of the client's CiphertextBlob with this context and KeyId (the agent
   * passes the key of the session preferences: crypto/kmsservice.go); throws on any KMS
   * error, as an ApiError-like `{ type, status, message }`.
   */
  decryptDataKey(ciphertextBlob: Buffer, context: Record<string, string>, keyId: string): Buffer;
  faults?: KmsFaultHooks;
}

export function newRandomChallenge(): string {
  return randomBytes(RANDOM_CHALLENGE_BYTES).toString('base64');
}

/** The context the agent decrypts with (§8.2, §8.5). */
export function agentEncryptionContext(
  sessionId: string,
  targetId: string,
  challenge: string | undefined,
): Record<string, string> {
  const context: Record<string, string> = {
    [ENCRYPTION_CONTEXT_SESSION_ID]: sessionId,
    [ENCRYPTION_CONTEXT_TARGET_ID]: targetId,
  };
  if (challenge !== undefined) context[ENCRYPTION_CONTEXT_RANDOM_CHALLENGE] = challenge;
  return context;
}

/**
 * The agent's payload cipher. Every encryption (challenge and payloads) takes the next
 * counter nonce. Fault hooks can swap in a wrong key or tamper with one ciphertext.
 */
export class AgentCipher implements PayloadCipher {
  private readonly encryptKey: Buffer;
  private readonly decryptKey: Buffer;
  private readonly wrongKey = randomBytes(32);
  private readonly nonces = new CounterNonce();
  private readonly faults: KmsFaultHooks | undefined;
  /** Number of payloads encrypted so far (challenge excluded). */
  encryptedCount = 0;

  constructor(dataKey: Buffer, faults?: KmsFaultHooks) {
    const { agentEncrypt, clientEncrypt } = splitDataKey(dataKey);
    this.encryptKey = agentEncrypt;
    this.decryptKey = clientEncrypt;
    this.faults = faults;
  }

  /** Encrypts the challenge bytes (wrong key only in 'all' mode). */
  encryptChallenge(plaintext: Buffer): Buffer {
    const key = this.faults?.wrongKeyMode() === 'all' ? this.wrongKey : this.encryptKey;
    return encryptPayload(key, plaintext, this.nonces.next());
  }

  /** Agent → client payload (types 1, 11, 12). */
  encrypt(plaintext: Buffer): Buffer {
    const mode = this.faults?.wrongKeyMode() ?? 'off';
    const key = mode === 'output' || mode === 'all' ? this.wrongKey : this.encryptKey;
    const sealed = encryptPayload(key, plaintext, this.nonces.next());
    this.encryptedCount++;
    if (this.faults?.takeTamper()) {
      // Flip a ciphertext byte (or a tag byte for an empty plaintext): the frame digest
      // is computed afterwards, so only the GCM tag check fails.
      const index = plaintext.length > 0 ? KMS_NONCE_BYTES : sealed.length - 1;
      sealed[index] = (sealed[index] ?? 0) ^ 0x01;
    }
    return sealed;
  }

  /** Client → agent PayloadType 1 and the challenge answer; throws KmsCipherError on a bad tag. */
  decrypt(ciphertext: Buffer): Buffer {
    const key = this.faults?.wrongKeyMode() === 'input' ? this.wrongKey : this.decryptKey;
    return decryptPayload(key, ciphertext);
  }
}
