import { PayloadType } from '../protocol/constants.ts';
import { decryptPayload, encryptPayload, splitDataKey, type SplitDataKey } from '../protocol/kms-cipher.ts';
import { getFold } from '../protocol/payloads.ts';
import type { GenerateDataKey } from '../aws/kms-api.ts';
import type { PayloadCipher } from '../channel/data-channel.ts';

export const LEGACY_CLI_KMS_ERROR =
  'Installed version of CLI does not support Session Manager encryption feature. Please upgrade to the latest version of your CLI (e.g., AWS CLI).';

/** Payload types the agent encrypts; we encrypt only Output (§8.4). */
const ENCRYPTED_FROM_AGENT = new Set<number>([PayloadType.Output, PayloadType.StdErr, PayloadType.ExitCode]);

export interface EncryptionSettings {
  sessionId: string;
  target: string;
  /** Invoked with only 4 arguments: an old CLI (§8.6). */
  legacy: boolean;
  generateDataKey: GenerateDataKey;
}

/**
 * KMS encryption of a session (§8): the KMSEncryption handshake action, the challenge,
 * and the payload cipher. Key material never leaves this object and is never logged.
 */
export class SessionEncryption {
  private readonly settings: EncryptionSettings;
  private keys: SplitDataKey | undefined;

  constructor(settings: EncryptionSettings) {
    this.settings = settings;
  }

  get active(): boolean {
    return this.keys !== undefined;
  }

  /** Processes the KMSEncryption action; the result goes into the HandshakeResponse. */
  async processAction(parameters: unknown): Promise<unknown> {
    if (this.settings.legacy) throw new Error(LEGACY_CLI_KMS_ERROR);
    const keyId = getFold(parameters, 'KMSKeyId');
    if (typeof keyId !== 'string' || keyId === '') throw new Error('the agent named no KMS key');
    const challenge = getFold(parameters, 'Challenge');
    const context: Record<string, string> = {
      'aws:ssm:SessionId': this.settings.sessionId,
      'aws:ssm:TargetId': this.settings.target,
    };
    // The newer agents' random challenge binds the key to this handshake (§8.5).
    const acknowledge = typeof challenge === 'string' && challenge !== '';
    if (acknowledge) context['aws:ssm:RandomChallenge'] = challenge;
    let key;
    try {
      key = await this.settings.generateDataKey(keyId, context);
    } catch (err) {
      throw new Error(`Error calling KMS GenerateDataKey API: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.keys = splitDataKey(key.plaintext);
    key.plaintext.fill(0);
    return {
      KMSCipherTextKey: key.ciphertextBlob.toString('base64'),
      KMSCipherTextHash: null,
      ...(acknowledge ? { ChallengeAcknowledgement: true } : {}),
    };
  }

  /** Answers an EncChallengeRequest: decrypt with the agent's key, re-encrypt with ours (§4.7). */
  answerChallenge(request: Buffer): Buffer {
    const keys = this.requireKeys();
    let json: unknown;
    try {
      json = JSON.parse(request.toString('utf8'));
    } catch {
      throw new Error('the encryption challenge is not JSON');
    }
    const challenge = getFold(json, 'Challenge');
    if (typeof challenge !== 'string') throw new Error('the encryption challenge is missing');
    const plain = decryptPayload(keys.agentEncrypt, Buffer.from(challenge, 'base64'));
    return Buffer.from(JSON.stringify({ Challenge: encryptPayload(keys.clientEncrypt, plain).toString('base64') }));
  }

  /** The channel-level cipher: Output out, Output/StdErr/ExitCode in. */
  cipher(): PayloadCipher {
    const keys = this.requireKeys();
    return {
      encrypt: (type, payload) => (type === PayloadType.Output ? encryptPayload(keys.clientEncrypt, payload) : payload),
      decrypt: (type, payload) => (ENCRYPTED_FROM_AGENT.has(type) ? decryptPayload(keys.agentEncrypt, payload) : payload),
    };
  }

  private requireKeys(): SplitDataKey {
    if (!this.keys) throw new Error('no KMS data key yet');
    return this.keys;
  }
}
