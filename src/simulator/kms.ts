import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { ApiError } from './api-error.ts';

/**
 * A fake AWS KMS (JSON 1.1, `X-Amz-Target: TrentService.*`) with the two operations the
 * Session Manager world uses: GenerateDataKey (client side, §8.2) and Decrypt (agent side).
 *
 * Every syntactically valid key id, key ARN, alias name or alias ARN names a key; aliases
 * resolve to a stable key id. A CiphertextBlob is opaque to callers; here it is
 * `0x01 || len(keyArn) (2 bytes) || keyArn || nonce(12) || AES-256-GCM(dataKey) || tag(16)`
 * under a per-simulator secret for that key, with the canonical encryption context as the
 * additional authenticated data. So, as with real KMS, Decrypt succeeds only with exactly
 * the encryption context GenerateDataKey was given (InvalidCiphertextException otherwise).
 * Key material is never logged or recorded.
 */

export const DEFAULT_ACCOUNT_ID = '123456789012';
export const DEFAULT_KMS_REGION = 'us-east-1';
const BLOB_VERSION = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export type EncryptionContext = Record<string, string>;

export interface KmsFailure {
  errorType: string;
  status: number;
  message: string;
}

export type KmsOperation = 'GenerateDataKey' | 'Decrypt';

const KEY_ID_PATTERN = /^(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const KEY_ARN_PATTERN = /^arn:aws[\w-]*:kms:([a-z0-9-]+):(\d{12}):key\/(.+)$/;
const ALIAS_ARN_PATTERN = /^arn:aws[\w-]*:kms:([a-z0-9-]+):(\d{12}):(alias\/[\w/+=,.@-]+)$/;
const ALIAS_PATTERN = /^alias\/[\w/+=,.@-]+$/;

export class FakeKms {
  readonly accountId: string;
  private readonly secret = randomBytes(32);
  private readonly failures: Record<KmsOperation, KmsFailure[]> = { GenerateDataKey: [], Decrypt: [] };
  private readonly disabled = new Set<string>();

  constructor(options: { accountId?: string } = {}) {
    this.accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  }

  /** Makes the next call(s) of `operation` (HTTP or the agent's) fail with this error. */
  failNext(operation: KmsOperation, failure: Partial<KmsFailure> = {}, count = 1): void {
    for (let i = 0; i < count; i++) {
      this.failures[operation].push({
        errorType: failure.errorType ?? 'KMSInternalException',
        status: failure.status ?? 500,
        message: failure.message ?? 'The simulator refuses this KMS request.',
      });
    }
  }

  /** Disables a key (by any of its names): both operations then answer DisabledException. */
  disableKey(keyId: string, region = DEFAULT_KMS_REGION): void {
    this.disabled.add(this.resolveKeyArn(keyId, region));
  }

  /** The key ARN a key id, ARN or alias resolves to. */
  resolveKeyArn(keyId: string, region = DEFAULT_KMS_REGION): string {
    const keyArn = KEY_ARN_PATTERN.exec(keyId);
    if (keyArn) return keyId;
    if (KEY_ID_PATTERN.test(keyId)) return `arn:aws:kms:${region}:${this.accountId}:key/${keyId}`;
    const aliasArn = ALIAS_ARN_PATTERN.exec(keyId);
    const alias = aliasArn ? aliasArn[3] : ALIAS_PATTERN.test(keyId) ? keyId : undefined;
    if (alias !== undefined) {
      const aliasRegion = aliasArn?.[1] ?? region;
      const account = aliasArn?.[2] ?? this.accountId;
      return `arn:aws:kms:${aliasRegion}:${account}:key/${aliasKeyId(alias)}`;
    }
    throw new ApiError('NotFoundException', 400, `Invalid keyId '${keyId}'`);
  }

  /** GenerateDataKey: `{KeyId, NumberOfBytes | KeySpec, EncryptionContext?}`. */
  generateDataKey(body: Record<string, unknown>, region = DEFAULT_KMS_REGION): Record<string, unknown> {
    this.takeFailure('GenerateDataKey');
    const keyId = body.KeyId;
    if (typeof keyId !== 'string' || keyId.length === 0) throw validation('keyId', 'Member must not be null');
    const bytes = dataKeyLength(body);
    const context = readContext(body.EncryptionContext);
    const keyArn = this.resolveKeyArn(keyId, region);
    this.checkEnabled(keyArn);
    const plaintext = randomBytes(bytes);
    const blob = this.seal(keyArn, plaintext, context);
    return { CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: keyArn };
  }

  /** Decrypt: `{CiphertextBlob, EncryptionContext?, KeyId?}`. */
  decrypt(body: Record<string, unknown>, region = DEFAULT_KMS_REGION): Record<string, unknown> {
    this.takeFailure('Decrypt');
    const encoded = body.CiphertextBlob;
    if (typeof encoded !== 'string' || encoded.length === 0) {
      throw validation('ciphertextBlob', 'Member must not be null');
    }
    const { keyArn, plaintext } = this.open(Buffer.from(encoded, 'base64'), readContext(body.EncryptionContext));
    if (typeof body.KeyId === 'string' && body.KeyId.length > 0 && this.resolveKeyArn(body.KeyId, region) !== keyArn) {
      throw new ApiError(
        'IncorrectKeyException',
        400,
        'The key ID in the request does not identify a CMK that can perform this operation.',
      );
    }
    return { KeyId: keyArn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  /** The agent's in-process Decrypt: same checks as the HTTP operation; returns the key. */
  decryptDataKey(blob: Buffer, context: EncryptionContext, keyId?: string): Buffer {
    const result = this.decrypt({ CiphertextBlob: blob.toString('base64'), EncryptionContext: context, KeyId: keyId });
    return Buffer.from(String(result.Plaintext), 'base64');
  }

  private takeFailure(operation: KmsOperation): void {
    const failure = this.failures[operation].shift();
    if (failure) throw new ApiError(failure.errorType, failure.status, failure.message);
  }

  private checkEnabled(keyArn: string): void {
    if (this.disabled.has(keyArn)) throw new ApiError('DisabledException', 400, `${keyArn} is disabled.`);
  }

  private keyFor(keyArn: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret, Buffer.alloc(0), `sim-kms:${keyArn}`, 32));
  }

  private seal(keyArn: string, plaintext: Buffer, context: EncryptionContext): Buffer {
    const arn = Buffer.from(keyArn, 'utf8');
    const header = Buffer.alloc(3);
    header[0] = BLOB_VERSION;
    header.writeUInt16BE(arn.length, 1);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyFor(keyArn), nonce);
    cipher.setAAD(canonicalContext(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, arn, nonce, body, cipher.getAuthTag()]);
  }

  private open(blob: Buffer, context: EncryptionContext): { keyArn: string; plaintext: Buffer } {
    const invalid = (): ApiError => new ApiError('InvalidCiphertextException', 400, '');
    if (blob.length < 3 || blob[0] !== BLOB_VERSION) throw invalid();
    const arnLength = blob.readUInt16BE(1);
    if (blob.length < 3 + arnLength + NONCE_BYTES + TAG_BYTES) throw invalid();
    const keyArn = blob.toString('utf8', 3, 3 + arnLength);
    if (!KEY_ARN_PATTERN.test(keyArn)) throw invalid();
    this.checkEnabled(keyArn);
    const nonce = blob.subarray(3 + arnLength, 3 + arnLength + NONCE_BYTES);
    const body = blob.subarray(3 + arnLength + NONCE_BYTES, blob.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.keyFor(keyArn), nonce);
    decipher.setAAD(canonicalContext(context));
    decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
    try {
      return { keyArn, plaintext: Buffer.concat([decipher.update(body), decipher.final()]) };
    } catch {
      throw invalid();
    }
  }
}

function aliasKeyId(alias: string): string {
  const hex = createHash('sha256').update(alias).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function validation(member: string, constraint: string): ApiError {
  return new ApiError(
    'ValidationException',
    400,
    `1 validation error detected: Value at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

function dataKeyLength(body: Record<string, unknown>): number {
  const { NumberOfBytes: count, KeySpec: spec } = body;
  if (count !== undefined && spec !== undefined) {
    throw new ApiError('ValidationException', 400, 'Please specify either number of bytes or key spec.');
  }
  if (spec === 'AES_256') return 32;
  if (spec === 'AES_128') return 16;
  if (spec !== undefined) throw validation('keySpec', 'Member must satisfy enum value set: [AES_256, AES_128]');
  if (count === undefined) throw new ApiError('ValidationException', 400, 'Please specify either number of bytes or key spec.');
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1024) {
    throw validation('numberOfBytes', 'Member must have value less than or equal to 1024');
  }
  return count;
}

function readContext(value: unknown): EncryptionContext {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError('SerializationException', 400, 'EncryptionContext must be a map of strings.');
  }
  const context: EncryptionContext = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new ApiError('SerializationException', 400, 'EncryptionContext must be a map of strings.');
    context[key] = item;
  }
  return context;
}

/** Order-independent bytes of an encryption context (KMS treats it as an unordered map). */
function canonicalContext(context: EncryptionContext): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}
