import type { DataChannel } from '../channel/data-channel.ts';
import { PayloadType } from '../protocol/constants.ts';
import { decodeHandshakeComplete, decodeHandshakeRequest } from '../protocol/payloads.ts';
import type { Logger } from '../util/logger.ts';
import { HandshakeError, SessionError } from './errors.ts';
import { answerHandshake, type NegotiatedSession } from './handshake.ts';
import type { SessionEncryption } from './session-encryption.ts';
import type { SessionHandler } from './session-handler.ts';
import { FLAG_ACK_WAIT_MS } from './termination.ts';

/** What a negotiation reports to the session that runs it. */
export interface NegotiationHost {
  readonly channel: DataChannel;
  readonly logger: Logger;
  readonly encryption: SessionEncryption | undefined;
  /** The session type is known: start its handler; returns it (undefined when none could start). */
  choose(session: NegotiatedSession, customerMessage: string): SessionHandler | undefined;
  /** The negotiation failed; `terminate`: tell the service (false when the agent cancels anyway). */
  fail(error: SessionError, terminate: boolean): void;
}

/**
 * Learns the session type before any handler runs (§5): the handshake (with the KMS
 * action and the encryption challenge, §4.4-§4.7, §8), or, for agents without one, a
 * first Output payload, which means a plain shell (§5.2). `receive` is the channel's
 * payload handler until the type is known.
 */
export class Negotiation {
  private readonly host: NegotiationHost;
  private handshakeStarted = false;
  private negotiated: NegotiatedSession | undefined;

  constructor(host: NegotiationHost) {
    this.host = host;
  }

  /** What the handshake said (undefined before it, or without one). */
  get session(): NegotiatedSession | undefined {
    return this.negotiated;
  }

  readonly receive = (payloadType: number, payload: Buffer): boolean => {
    switch (payloadType) {
      case PayloadType.HandshakeRequest:
        this.onHandshakeRequest(payload);
        return true;
      case PayloadType.HandshakeComplete:
        this.onHandshakeComplete(payload);
        return true;
      case PayloadType.EncChallengeRequest:
        this.onEncryptionChallenge(payload);
        return true;
      case PayloadType.Output: {
        if (this.handshakeStarted) return false;
        const handler = this.host.choose({ agentVersion: '', sessionType: 'Standard_Stream', properties: null }, '');
        return handler?.receive(payloadType, payload) ?? false;
      }
      default:
        return false;
    }
  };

  private onHandshakeRequest(payload: Buffer): void {
    const { channel, logger, encryption } = this.host;
    const request = decodeHandshakeRequest(payload);
    if (!request) return logger.debug('ignored an unreadable HandshakeRequest');
    this.handshakeStarted = true;
    const processors = encryption ? { KMSEncryption: (parameters: unknown) => encryption.processAction(parameters) } : {};
    answerHandshake(request, processors)
      .then(async ({ response, session }) => {
        this.negotiated = session;
        logger.debug(`handshake: agent ${session.agentVersion}, session type ${session.sessionType ?? 'unknown'}`);
        if (encryption?.active) channel.setCipher(encryption.cipher());
        channel.send(PayloadType.HandshakeResponse, Buffer.from(JSON.stringify(response)));
        if (response.Errors) {
          // The agent cancels the session; tell the user why, once, after it has the answer.
          await channel.flushed(FLAG_ACK_WAIT_MS);
          this.host.fail(new SessionError(response.Errors.join('; ')), false);
        }
      })
      .catch((err: unknown) => this.host.fail(new HandshakeError(message(err), { cause: err }), true));
  }

  private onEncryptionChallenge(payload: Buffer): void {
    const encryption = this.host.encryption;
    try {
      if (!encryption?.active) throw new Error('no KMS key was negotiated');
      this.host.channel.send(PayloadType.EncChallengeResponse, encryption.answerChallenge(payload));
    } catch (err) {
      this.host.fail(new SessionError(`the encryption challenge failed: ${message(err)}`), true);
    }
  }

  private onHandshakeComplete(payload: Buffer): void {
    const complete = decodeHandshakeComplete(payload);
    if (!this.negotiated?.sessionType) {
      this.host.fail(new SessionError('the agent completed a handshake without a usable session type'), true);
      return;
    }
    this.host.choose(this.negotiated, complete?.CustomerMessage ?? '');
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
