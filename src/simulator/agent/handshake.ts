import { PayloadType } from '../../protocol/constants.ts';
import {
  ActionStatus,
  decodeHandshakeResponse,
  type HandshakeComplete,
  type HandshakeRequest,
  type HandshakeResponse,
} from '../../protocol/payloads.ts';
import type { AgentChannel } from './agent-channel.ts';
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
  timeoutMs?: number;
  signal?: AbortSignal;
  // KMS extension point: a KMSEncryption action plus the challenge of §8.5 go here.
}

export interface HandshakeOutcome {
  clientVersion: string;
  response: HandshakeResponse;
}

/**
 * Runs the agent's side of §5.3: HandshakeRequest, wait for HandshakeResponse, check
 * every processed action succeeded, then HandshakeComplete with the elapsed time in
 * nanoseconds. The channel must already have `handshakeRequired` set, so that other
 * input is acked and discarded meanwhile.
 */
export async function performHandshake(
  channel: AgentChannel,
  options: HandshakeOptions,
): Promise<HandshakeOutcome> {
  const started = process.hrtime.bigint();
  const responsePayload = waitForResponse(channel, options);
  const request: HandshakeRequest = {
    AgentVersion: options.agentVersion,
    RequestedClientActions: [
      {
        ActionType: 'SessionType',
        ActionParameters: { SessionType: options.sessionType, Properties: options.properties },
      },
    ],
  };
  channel.sendStream(PayloadType.HandshakeRequest, Buffer.from(JSON.stringify(request)));
  const response = decodeHandshakeResponse(await responsePayload);
  if (!response) throw new HandshakeError('Failed to parse the handshake response.');
  const failed = response.ProcessedClientActions.filter((a) => a.ActionStatus !== ActionStatus.Success);
  if (failed.length > 0 || response.ProcessedClientActions.length === 0) {
    const reasons = failed.map((a) => a.Error || `${a.ActionType} failed`);
    throw new HandshakeError(`Handshake failed: ${reasons.join('; ') || 'no actions processed'}`);
  }
  const complete: HandshakeComplete = {
    HandshakeTimeToComplete: Number(process.hrtime.bigint() - started),
    CustomerMessage: options.customerMessage?.(response.ClientVersion) ?? '',
  };
  channel.handshakeComplete = true;
  channel.sendStream(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify(complete)));
  return { clientVersion: response.ClientVersion, response };
}

/** Resolves with the first HandshakeResponse payload; rejects on timeout or abort. */
function waitForResponse(channel: AgentChannel, options: HandshakeOptions): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      channel.setHandshakeHandler(undefined);
    };
    const onAbort = (): void => {
      finish();
      reject(new HandshakeError('Session cancelled during the handshake.'));
    };
    const timer = setTimeout(() => {
      finish();
      reject(new HandshakeError(HANDSHAKE_TIMEOUT_MESSAGE));
    }, options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    channel.setHandshakeHandler((frame) => {
      // Without KMS there is no challenge; a stray EncChallengeResponse is just consumed.
      if (frame.payloadType === PayloadType.HandshakeResponse) {
        finish();
        resolve(Buffer.from(frame.payload));
      }
      return 'accepted';
    });
  });
}
