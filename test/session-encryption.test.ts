import t from 'tap';
import { PassThrough } from 'node:stream';
import { memoryLink } from '../src/transport/memory-transport.ts';
import { PluginSession } from '../src/cli/plugin-session.ts';
import { SessionEncryption, LEGACY_CLI_KMS_ERROR } from '../src/session/session-encryption.ts';
import { MessageType, PayloadType } from '../src/protocol/constants.ts';
import { encodeFrame } from '../src/protocol/frame.ts';
import { decodeHandshakeResponse } from '../src/protocol/payloads.ts';
import { decryptPayload, encryptPayload } from '../src/protocol/kms-cipher.ts';
import { agentPeer } from './helpers/agent-peer.ts';

const DATA_KEY = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
const AGENT_KEY = DATA_KEY.subarray(0, 32);
const CLIENT_KEY = DATA_KEY.subarray(32, 64);

function harness(options: { legacy?: boolean; exitStatusFromRemote?: boolean } = {}) {
  const [clientEnd, agentEnd] = memoryLink();
  // The simulator's agent channel, without its cipher: the test encrypts and decrypts by hand.
  const agent = agentPeer(agentEnd, 'sess-kms');
  const received = agent.received;
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let screen = '';
  let errors = '';
  stdout.on('data', (d) => (screen += d.toString('latin1')));
  stderr.on('data', (d) => (errors += d));
  const kmsCalls: Array<{ keyId: string; context: Record<string, string> }> = [];
  const encryption = new SessionEncryption({
    sessionId: 'sess-kms',
    target: 'i-0123',
    legacy: options.legacy ?? false,
    generateDataKey: async (keyId, context) => {
      kmsCalls.push({ keyId, context });
      return { plaintext: Buffer.from(DATA_KEY), ciphertextBlob: Buffer.from('opaque-blob') };
    },
  });
  const session = new PluginSession({
    sessionId: 'sess-kms',
    tokenValue: 'tok',
    streamUrl: 'ws://unused',
    target: 'i-0123',
    io: { stdin: stdin as never, stdout: stdout as never, stderr },
    connect: async () => clientEnd,
    encryption,
    exitStatusFromRemote: options.exitStatusFromRemote ?? true,
  });
  const closeChannel = () =>
    agentEnd.send(
      encodeFrame({ messageType: MessageType.ChannelClosed, schemaVersion: 1, createdDate: Date.now(), sequenceNumber: 0, flags: 3, messageId: crypto.randomUUID(), payloadType: 0, payload: Buffer.from('{"Output":""}') }),
    );
  return { agent, received, stdin, screen: () => screen, errors: () => errors, kmsCalls, session, closeChannel };
}

const until = async (cond: () => boolean, what = 'condition') => {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

async function handshake(h: ReturnType<typeof harness>, sessionType = 'Standard_Stream') {
  h.agent.send(
    PayloadType.HandshakeRequest,
    Buffer.from(JSON.stringify({
      AgentVersion: '3.3.987.0',
      RequestedClientActions: [
        { ActionType: 'SessionType', ActionParameters: { SessionType: sessionType, Properties: null } },
        { ActionType: 'KMSEncryption', ActionParameters: { KMSKeyId: 'alias/session', Challenge: 'q83vEjRWeJASNFZ4kBI0Vg==' } },
      ],
    })),
  );
  await until(() => h.received.some((r) => r.type === PayloadType.HandshakeResponse), 'handshake response');
  return decodeHandshakeResponse(h.received.find((r) => r.type === PayloadType.HandshakeResponse)!.payload)!;
}

t.test('KMS handshake, challenge and encrypted payloads both ways', async (t) => {
  const h = harness();
  const outcome = h.session.run();
  const response = await handshake(h);
  t.same(h.kmsCalls, [{ keyId: 'alias/session', context: { 'aws:ssm:SessionId': 'sess-kms', 'aws:ssm:TargetId': 'i-0123', 'aws:ssm:RandomChallenge': 'q83vEjRWeJASNFZ4kBI0Vg==' } }]);
  t.same(response.ProcessedClientActions[1], {
    ActionType: 'KMSEncryption',
    ActionStatus: 1,
    ActionResult: { KMSCipherTextKey: Buffer.from('opaque-blob').toString('base64'), KMSCipherTextHash: null, ChallengeAcknowledgement: true },
    Error: '',
  });
  const challenge = Buffer.from('sixty-four random bytes would go here, this is a test challenge!');
  h.agent.send(PayloadType.EncChallengeRequest, Buffer.from(JSON.stringify({ Challenge: encryptPayload(AGENT_KEY, challenge).toString('base64') })));
  await until(() => h.received.some((r) => r.type === PayloadType.EncChallengeResponse), 'challenge response');
  const answer = JSON.parse(h.received.find((r) => r.type === PayloadType.EncChallengeResponse)!.payload.toString());
  t.same(decryptPayload(CLIENT_KEY, Buffer.from(answer.Challenge, 'base64')), challenge, 're-encrypted with the client key');
  h.agent.send(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify({ HandshakeTimeToComplete: 5, CustomerMessage: 'This session is encrypted using AWS KMS.' })));
  h.agent.send(PayloadType.Output, encryptPayload(AGENT_KEY, Buffer.from('secret-output\r\n')));
  await until(() => h.screen().includes('secret-output'), 'decrypted output');
  t.match(h.screen(), /This session is encrypted using AWS KMS\.\n/);
  h.stdin.write('typed-input\r');
  await until(() => h.received.some((r) => r.type === PayloadType.Output), 'encrypted input');
  const input = h.received.find((r) => r.type === PayloadType.Output)!.payload;
  t.notOk(input.includes(Buffer.from('typed-input')), 'no plaintext on the wire');
  t.equal(decryptPayload(CLIENT_KEY, input).toString(), 'typed-input\r');
  const size = h.received.find((r) => r.type === PayloadType.Size)!.payload;
  t.same(JSON.parse(size.toString()), { cols: 300, rows: 100 }, 'Size goes in clear');
  h.agent.send(PayloadType.StdErr, encryptPayload(AGENT_KEY, Buffer.from('to-stderr\n')));
  h.agent.send(PayloadType.ExitCode, encryptPayload(AGENT_KEY, Buffer.from('EXIT_CODE: 7')));
  await until(() => h.errors().includes('to-stderr'), 'stderr payload');
  h.closeChannel();
  t.same(await outcome, { status: 'closed', output: '', exitCode: 7 });
  t.notMatch(h.screen(), /EXIT_CODE/, 'exit code not printed when it becomes the exit status');
  h.agent.close();
});

t.test('tampered ciphertext ends the session cleanly, nothing garbled on screen', async (t) => {
  const h = harness();
  const outcome = h.session.run();
  await handshake(h, 'NonInteractiveCommands');
  h.agent.send(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify({ HandshakeTimeToComplete: 5, CustomerMessage: '' })));
  const good = encryptPayload(AGENT_KEY, Buffer.from('fine\n'));
  const bad = encryptPayload(AGENT_KEY, Buffer.from('evil\n'));
  bad[14] = bad[14]! ^ 0x01;
  h.agent.send(PayloadType.Output, good);
  h.agent.send(PayloadType.Output, bad);
  const result = await outcome;
  t.equal(result.status, 'failed');
  if (result.status === 'failed') t.match(result.error.message, /failed decryption/);
  t.equal(h.screen(), 'fine\n', 'only authenticated plaintext reached stdout');
  h.agent.close();
});

t.test('official exit-code mode prints EXIT_CODE and keeps status 0 semantics to the caller', async (t) => {
  const h = harness({ exitStatusFromRemote: false });
  const outcome = h.session.run();
  await handshake(h, 'NonInteractiveCommands');
  h.agent.send(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify({ HandshakeTimeToComplete: 5, CustomerMessage: '' })));
  h.agent.send(PayloadType.ExitCode, encryptPayload(AGENT_KEY, Buffer.from('EXIT_CODE: 3')));
  await until(() => h.screen().includes('EXIT_CODE: 3'), 'printed exit code');
  h.closeChannel();
  t.same(await outcome, { status: 'closed', output: '', exitCode: 3 });
  h.agent.close();
});

t.test('a legacy 4-argument invocation refuses KMS with the official message', async (t) => {
  const h = harness({ legacy: true });
  const outcome = h.session.run();
  const response = await handshake(h);
  t.equal(response.ProcessedClientActions[1]!.ActionStatus, 2);
  t.equal(response.ProcessedClientActions[1]!.Error, `Failed to process action KMSEncryption: ${LEGACY_CLI_KMS_ERROR}`);
  t.same(response.Errors, [`Failed to process action KMSEncryption: ${LEGACY_CLI_KMS_ERROR}`]);
  const result = await outcome;
  t.equal(result.status, 'failed');
  t.same(h.kmsCalls, []);
  h.agent.close();
});
