import t, { type Test } from 'tap';
import { PassThrough } from 'node:stream';
import { memoryLink } from '../src/transport/memory-transport.ts';
import { AgentChannel } from '../src/simulator/agent/agent-channel.ts';
import { PluginSession } from '../src/cli/plugin-session.ts';
import { SessionEncryption } from '../src/session/session-encryption.ts';
import { HandshakeError, type SessionError } from '../src/session/errors.ts';
import { PayloadType } from '../src/protocol/constants.ts';
import type { SessionOutcome } from '../src/session/session-contract.ts';

const DATA_KEY = Buffer.from(Array.from({ length: 64 }, (_, i) => i));

/**
 * The simulator's agent channel on the far end of an in-memory link, asking for a shell
 * session with KMS encryption; the session's answer to the handshake is made to fail.
 */
function harness() {
  const [clientEnd, agentEnd] = memoryLink();
  const agent = new AgentChannel({ sessionId: 'sess-hs', send: (frame) => agentEnd.send(frame) });
  agentEnd.on('frame', (frame: Buffer) => agent.receive(frame));
  agent.handshakeRequired = true;
  const answers: number[] = [];
  agent.setHandshakeHandler((frame) => (answers.push(frame.payloadType), 'accepted'));
  agent.start();
  const encryption = new SessionEncryption({
    sessionId: 'sess-hs',
    target: 'i-0123',
    legacy: false,
    generateDataKey: async () => ({ plaintext: Buffer.from(DATA_KEY), ciphertextBlob: Buffer.from('blob') }),
  });
  const terminated: string[] = [];
  const session = new PluginSession({
    sessionId: 'sess-hs',
    tokenValue: 'tok',
    streamUrl: 'ws://unused',
    target: 'i-0123',
    io: { stdin: new PassThrough() as never, stdout: new PassThrough() as never, stderr: new PassThrough() },
    connect: async () => clientEnd,
    encryption,
    api: { terminateSession: async (id) => void terminated.push(id) },
  });
  const requestHandshake = () =>
    agent.sendStream(
      PayloadType.HandshakeRequest,
      Buffer.from(
        JSON.stringify({
          AgentVersion: '3.3.987.0',
          RequestedClientActions: [
            { ActionType: 'KMSEncryption', ActionParameters: { KMSKeyId: 'arn:aws:kms:eu-west-1:1:key/k' } },
            { ActionType: 'SessionType', ActionParameters: { SessionType: 'Standard_Stream', Properties: null } },
          ],
        }),
      ),
    );
  return { agent, answers, encryption, session, terminated, requestHandshake };
}

/** Fails the test on any unhandled rejection while `run` runs (Node would end the process). */
async function withoutUnhandledRejections(t: Test, run: () => Promise<SessionOutcome>): Promise<SessionOutcome> {
  const rejections: unknown[] = [];
  const listener = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', listener);
  try {
    const outcome = await run();
    // A rejection without a handler is reported after the microtasks of its turn.
    await new Promise((resolve) => setImmediate(resolve));
    t.same(rejections.map(String), [], 'no unhandled rejection');
    return outcome;
  } finally {
    process.off('unhandledRejection', listener);
  }
}

/** Runs the session into its handshake; checks it failed with a HandshakeError and returns that. */
async function failedHandshake(t: Test, h: ReturnType<typeof harness>): Promise<SessionError | undefined> {
  const outcome = await withoutUnhandledRejections(t, () => {
    const done = h.session.run();
    h.requestHandshake();
    return done;
  });
  t.equal(outcome.status, 'failed');
  const error = outcome.status === 'failed' ? outcome.error : undefined;
  t.ok(error instanceof HandshakeError, 'a typed error');
  return error;
}

t.test('channel.send throwing while the handshake is answered fails the session with a HandshakeError', async (t) => {
  const h = harness();
  const send = h.session.channel.send.bind(h.session.channel);
  h.session.channel.send = (type, payload) => {
    if (type === PayloadType.HandshakeResponse) throw new Error('the connection is gone');
    return send(type, payload);
  };
  const error = await failedHandshake(t, h);
  t.equal(error?.message, 'the handshake with the agent failed: the connection is gone');
  t.same(h.answers, [], 'no HandshakeResponse reached the agent');
  t.same(h.terminated, ['sess-hs'], 'the session is terminated');
  h.agent.close();
});

t.test('the cipher throwing while the handshake is answered fails the session with a HandshakeError', async (t) => {
  const h = harness();
  h.encryption.cipher = () => {
    throw new Error('the data key is unusable');
  };
  const error = await failedHandshake(t, h);
  t.equal(error?.message, 'the handshake with the agent failed: the data key is unusable');
  t.same(h.terminated, ['sess-hs'], 'the session is terminated');
  h.agent.close();
});
