/**
 * AES-256-GCM payload cipher used by KMS-encrypted sessions (PROTOCOL.md §8.3, §8.4).
 *
 * Encrypted payload layout: nonce(12) || ciphertext || tag(16), no AAD.
 * Shared by the client session code and the simulator's agent.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';

export const KMS_DATA_KEY_BYTES = 64;
export const KMS_CIPHER_KEY_BYTES = 32;
export const KMS_NONCE_BYTES = 12;
export const KMS_TAG_BYTES = 16;
/** An encrypted payload is this many bytes longer than its plaintext. */
export const KMS_OVERHEAD_BYTES = KMS_NONCE_BYTES + KMS_TAG_BYTES;

export type KmsCipherErrorCode = 'bad-key' | 'bad-nonce' | 'too-short' | 'auth-failed';

/** Raised on any encryption/decryption problem; `code` tells which. */
export class KmsCipherError extends Error {
  readonly code: KmsCipherErrorCode;
  constructor(code: KmsCipherErrorCode, message: string) {
    super(message);
    this.name = 'KmsCipherError';
    this.code = code;
  }
}

export interface SplitDataKey {
  /** Bytes 0..31: the agent encrypts (agent → client) with it; the client decrypts with it. */
  agentEncrypt: Buffer;
  /** Bytes 32..63: the client encrypts (client → agent) with it; the agent decrypts with it. */
  clientEncrypt: Buffer;
}

/** Splits the 64-byte KMS data key into its two 32-byte halves (§8.3). */
export function splitDataKey(plaintext: Uint8Array): SplitDataKey {
  if (plaintext.length !== KMS_DATA_KEY_BYTES) {
    throw new KmsCipherError('bad-key', `KMS data key must be ${KMS_DATA_KEY_BYTES} bytes, got ${plaintext.length}`);
  }
  const key = Buffer.from(plaintext);
  return {
    agentEncrypt: Buffer.from(key.subarray(0, KMS_CIPHER_KEY_BYTES)),
    clientEncrypt: Buffer.from(key.subarray(KMS_CIPHER_KEY_BYTES, KMS_DATA_KEY_BYTES)),
  };
}

function checkKey(key: Uint8Array): void {
  if (key.length !== KMS_CIPHER_KEY_BYTES) {
    throw new KmsCipherError('bad-key', `cipher key must be ${KMS_CIPHER_KEY_BYTES} bytes, got ${key.length}`);
  }
}

/**
 * Encrypts `plaintext`; returns nonce || ciphertext || tag, assembled in one buffer (no
 * concatenation: this runs for every frame of a KMS session). A random nonce is used
 * unless one is given.
 */
export function encryptPayload(key: Uint8Array, plaintext: Uint8Array, nonce?: Uint8Array): Buffer {
  checkKey(key);
  if (nonce !== undefined && nonce.length !== KMS_NONCE_BYTES) {
    throw new KmsCipherError('bad-nonce', `nonce must be ${KMS_NONCE_BYTES} bytes, got ${nonce.length}`);
  }
  const out = Buffer.allocUnsafe(KMS_OVERHEAD_BYTES + plaintext.length);
  const iv = out.subarray(0, KMS_NONCE_BYTES);
  if (nonce === undefined) randomFillSync(iv);
  else iv.set(nonce);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: KMS_TAG_BYTES });
  let at = KMS_NONCE_BYTES + cipher.update(plaintext).copy(out, KMS_NONCE_BYTES);
  at += cipher.final().copy(out, at); // empty for GCM
  cipher.getAuthTag().copy(out, at);
  return out;
}

/** Decrypts nonce || ciphertext || tag. Throws KmsCipherError (code 'auth-failed') on a bad tag. */
export function decryptPayload(key: Uint8Array, data: Uint8Array): Buffer {
  checkKey(key);
  if (data.length < KMS_OVERHEAD_BYTES) {
    throw new KmsCipherError('too-short', `encrypted payload too short (${data.length} bytes)`);
  }
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const iv = buf.subarray(0, KMS_NONCE_BYTES);
  const tag = buf.subarray(buf.length - KMS_TAG_BYTES);
  const body = buf.subarray(KMS_NONCE_BYTES, buf.length - KMS_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: KMS_TAG_BYTES });
  decipher.setAuthTag(tag);
  try {
    const plain = decipher.update(body);
    // GCM gives everything from update(); final() only checks the tag.
    const rest = decipher.final();
    return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
  } catch {
    throw new KmsCipherError('auth-failed', 'message authentication failed');
  }
}

/**
 * Counter nonce as the agent uses it (§8.4): a random 96-bit start held as three 32-bit words,
 * incremented by one per message with little-endian carry (word 0 first). Each word is
 * serialised little-endian.
 */
export class CounterNonce {
  private readonly words: Uint32Array;

  constructor(start?: Uint8Array) {
    const seed = start === undefined ? randomBytes(KMS_NONCE_BYTES) : Buffer.from(start);
    if (seed.length !== KMS_NONCE_BYTES) {
      throw new KmsCipherError('bad-nonce', `nonce must be ${KMS_NONCE_BYTES} bytes, got ${seed.length}`);
    }
    this.words = new Uint32Array([seed.readUInt32LE(0), seed.readUInt32LE(4), seed.readUInt32LE(8)]);
  }

  /** Returns the current nonce and advances the counter. */
  next(): Buffer {
    const out = Buffer.alloc(KMS_NONCE_BYTES);
    out.writeUInt32LE(this.words[0]!, 0);
    out.writeUInt32LE(this.words[1]!, 4);
    out.writeUInt32LE(this.words[2]!, 8);
    for (let i = 0; i < 3; i++) {
      this.words[i] = (this.words[i]! + 1) >>> 0;
      if (this.words[i] !== 0) break;
    }
    return out;
  }
}
