import t from 'tap';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { decryptPayload, encryptPayload } from '../src/protocol/kms-cipher.ts';
import { encodeSize } from '../src/protocol/payloads.ts';
import {
  CHALLENGE_ACK_REQUIRED_MESSAGE,
  CHALLENGE_TIMEOUT_MESSAGE,
  KMS_CUSTOMER_MESSAGE,
  startSimulator,
  type Simulator,
} from '../src/simulator/index.ts';
import { callTarget, startAndOpen, type RawClient } from './helpers/sim-raw-client.ts';

/*
 * KMS-encrypted sessions (PROTOCOL.md §8) against the simulator, driven by a codec-only
 * client that does its own GenerateDataKey over HTTP and its own AES-GCM.
 */

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

const TARGET = 'i-0123456789abcdef0';
const KEY_ID = 'alias/session-key';

function kmsClient(sim: Simulator): KMSClient {
  return new KMSClient({
    region: 'us-east-1',
    endpoint: sim.endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
}

async function simulator(t: TestContext, options: Parameters<typeof startSimulator>[0] = {}): Promise<Simulator> {
  const sim = await startSimulator({ shellDelayMs: 50, kmsKeyId: KEY_ID, ...options });
  t.teardown(() => sim.close());
  return sim;
}

async function open(t: TestContext, sim: Simulator, body: Record<string, unknown>, options: Parameters<typeof startAndOpen>[2] = {}) {
  const opened = await startAndOpen(sim.endpoint, body, options);
  t.teardown(() => opened.client.close());
  return opened;
}

const nonceCounter = (nonce: Buffer): bigint =>
  (BigInt(nonce.readUInt32LE(8)) << 64n) | (BigInt(nonce.readUInt32LE(4)) << 32n) | BigInt(nonce.readUInt32LE(0));

t.test('fake KMS through the real SDK: GenerateDataKey / Decrypt and the encryption context', async (t) => {
  const sim = await simulator(t);
  const kms = kmsClient(sim);
  t.teardown(() => kms.destroy());
  const context = { 'aws:ssm:SessionId': 's-1', 'aws:ssm:TargetId': TARGET };
  const generated = await kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID, NumberOfBytes: 64, EncryptionContext: context }));
  t.equal(generated.Plaintext?.length, 64);
  t.match(generated.KeyId, /^arn:aws:kms:us-east-1:123456789012:key\/[0-9a-f-]{36}$/);
  t.ok((generated.CiphertextBlob?.length ?? 0) > 64);

  const reordered = { 'aws:ssm:TargetId': TARGET, 'aws:ssm:SessionId': 's-1' };
  const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: reordered }));
  t.same(Buffer.from(decrypted.Plaintext ?? []), Buffer.from(generated.Plaintext ?? []), 'same key back; context order is irrelevant');
  t.equal(decrypted.KeyId, generated.KeyId);

  for (const wrong of [{ ...context, 'aws:ssm:TargetId': 'i-0fffffffffffffff0' }, {}, { ...context, extra: 'x' }]) {
    await t.rejects(
      kms.send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: wrong })),
      { name: 'InvalidCiphertextException' },
    );
  }
  await t.rejects(
    kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from('not a blob'), EncryptionContext: context })),
    { name: 'InvalidCiphertextException' },
  );
  await t.rejects(kms.send(new GenerateDataKeyCommand({ KeyId: 'no such key', NumberOfBytes: 64 })), {
    name: 'NotFoundException',
  });
  sim.kms.failNext('GenerateDataKey', { errorType: 'KMSInvalidStateException', status: 400, message: 'pending deletion' });
  await t.rejects(kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID, NumberOfBytes: 64 })), {
    name: 'KMSInvalidStateException',
    message: 'pending deletion',
  });
  sim.kms.disableKey(KEY_ID);
  await t.rejects(
    kms.send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: context })),
    { name: 'DisabledException' },
  );

  const kmsCalls = sim.apiCalls.filter((c) => c.service === 'kms');
  t.same(
    kmsCalls.map((c) => [c.operation, c.errorType ?? '']),
    [
      ['GenerateDataKey', ''],
      ['Decrypt', ''],
      ['Decrypt', 'InvalidCiphertextException'],
      ['Decrypt', 'InvalidCiphertextException'],
      ['Decrypt', 'InvalidCiphertextException'],
      ['Decrypt', 'InvalidCiphertextException'],
      ['GenerateDataKey', 'NotFoundException'],
      ['GenerateDataKey', 'KMSInvalidStateException'],
      ['Decrypt', 'DisabledException'],
    ],
  );
  const plaintext64 = Buffer.from(generated.Plaintext ?? []).toString('base64');
  t.notOk(JSON.stringify(sim.apiCalls).includes(plaintext64), 'key material is never recorded');
  t.same(sim.apiCalls[0]?.body, { KeyId: KEY_ID, NumberOfBytes: 64, EncryptionContext: context });
});

t.test('X-Amz-Target routes SSM, KMS and ECS on one port; raw JSON errors', async (t) => {
  const sim = await simulator(t);
  const bad = await callTarget(sim.endpoint, 'TrentService.GenerateDataKey', { KeyId: KEY_ID, NumberOfBytes: 2000 });
  t.equal(bad.status, 400);
  t.equal(bad.json.__type, 'ValidationException');
  const unknown = await callTarget(sim.endpoint, 'TrentService.Encrypt', {});
  t.equal(unknown.json.__type, 'UnknownOperationException');
  const proto = await callTarget(sim.endpoint, 'TrentService.toString', {});
  t.equal(proto.json.__type, 'UnknownOperationException', 'no prototype lookups');
  t.same(
    sim.apiCalls.map((c) => [c.service, c.operation]),
    [
      ['kms', 'GenerateDataKey'],
      ['kms', 'Encrypt'],
      ['kms', 'toString'],
    ],
  );
});

/** Everything about a good KMS shell session, in steps on one session. */
t.test('KMS shell session: handshake, challenge, counter-nonce output, encrypted input', async (t) => {
  const sim = await simulator(t);
  const { client, sessionId } = await open(t, sim, { Target: TARGET });

  await client.until(() => client.handshakeComplete, 'HandshakeComplete');
  const request = client.handshakeRequest;
  t.equal(request.AgentVersion, '3.3.987.0');
  t.same(request.RequestedClientActions[0], {
    ActionType: 'SessionType',
    ActionParameters: { SessionType: 'Standard_Stream', Properties: null },
  });
  const kmsAction = request.RequestedClientActions[1];
  t.equal(kmsAction.ActionType, 'KMSEncryption');
  t.equal(kmsAction.ActionParameters.KMSKeyId, KEY_ID);
  t.match(kmsAction.ActionParameters.Challenge, /^[A-Za-z0-9+/]{22}==$/, '16 random bytes, base64');
  t.same(Object.keys(kmsAction.ActionParameters), ['KMSKeyId', 'Challenge']);

  const first = client.frames('output_stream_data')[0];
  t.equal(first?.payloadType, 5, 'a KMS shell starts with a handshake');
  t.equal(first?.flags, 1);

  t.same(
    client.payloads.slice(0, 3).map((p) => [p.seq, p.payloadType]),
    [
      [0, 5],
      [1, 8],
      [2, 7],
    ],
    'HandshakeRequest, EncChallengeRequest, HandshakeComplete',
  );
  const challenge = Buffer.from(client.challengeRequest.Challenge, 'base64');
  t.equal(challenge.length, 64 + 28, '64 random bytes, encrypted');
  t.equal(client.handshakeComplete.CustomerMessage, KMS_CUSTOMER_MESSAGE);
  t.ok(client.handshakeComplete.HandshakeTimeToComplete > 0);

  const agentDecrypt = sim.apiCalls.find((c) => c.caller === 'agent');
  t.same(agentDecrypt?.body, {
    CiphertextBlob: client.handshakeResponse.ProcessedClientActions[1].ActionResult.KMSCipherTextKey,
    EncryptionContext: {
      'aws:ssm:SessionId': sessionId,
      'aws:ssm:TargetId': TARGET,
      'aws:ssm:RandomChallenge': kmsAction.ActionParameters.Challenge,
    },
    KeyId: KEY_ID, // crypto/kmsservice.go passes the session's key id to Decrypt
  });
  t.equal(agentDecrypt?.operation, 'Decrypt');
  t.equal(agentDecrypt?.status, 200);
  t.equal(sim.sessions.get(sessionId)?.agent.encrypted, true);

  await client.untilText(/\$ $/);
  client.input('echo kms-$((6*7))\r');
  await client.untilText(/[\r\n]kms-42\r\n/);
  client.input(encodeSize({ cols: 101, rows: 33 }), 3); // Size goes in clear
  client.input('stty size\r');
  await client.untilText(/[\r\n]33 101\r\n/);

  const output = client.payloads.filter((p) => p.payloadType === 1);
  t.ok(output.length >= 3);
  t.ok(output.every((p) => p.data !== undefined && p.wire.length === p.data.length + 28), 'nonce||ct||tag');
  const counters = output.map((p) => nonceCounter(p.wire.subarray(0, 12)));
  const challengeCounter = nonceCounter(challenge.subarray(0, 12));
  t.equal(counters[0], challengeCounter + 1n, 'the challenge took the first nonce');
  t.ok(
    counters.every((c, i) => i === 0 || c === (counters[i - 1] as bigint) + 1n),
    'counter nonce: +1 per message',
  );
  // The client's frames were encrypted by the helper with random nonces; the agent took them.
  const inputs = sim.frameLog.filter((e) => e.direction === 'toAgent');
  t.ok(inputs.length > 0);

  client.input('exit\r');
  await client.closed;
  t.equal(client.channelClosed()?.Output, '');
});

t.test('older agent form: no Challenge, context without RandomChallenge', async (t) => {
  const sim = await simulator(t, { randomChallenge: false });
  const { client, sessionId } = await open(t, sim, { Target: TARGET });
  await client.until(() => client.handshakeComplete, 'HandshakeComplete');
  t.same(client.handshakeRequest.RequestedClientActions[1].ActionParameters, { KMSKeyId: KEY_ID });
  t.same((sim.apiCalls.find((c) => c.caller === 'agent')?.body as any)?.EncryptionContext, {
    'aws:ssm:SessionId': sessionId,
    'aws:ssm:TargetId': TARGET,
  });
  await client.untilText(/\$ $/);
});

t.test('a client that does not acknowledge the challenge', async (t) => {
  await t.test('is accepted by default (context without RandomChallenge)', async (t) => {
    const sim = await simulator(t);
    const { client } = await open(t, sim, { Target: TARGET }, { handshake: { acknowledgeChallenge: false } });
    await client.until(() => client.handshakeComplete, 'HandshakeComplete');
    t.notOk('aws:ssm:RandomChallenge' in ((sim.apiCalls.find((c) => c.caller === 'agent')?.body as any)?.EncryptionContext ?? {}));
    await client.untilText(/\$ $/);
  });
  await t.test('is rejected when the agent requires it', async (t) => {
    const sim = await simulator(t, { requireChallengeAck: true });
    const { client } = await open(t, sim, { Target: TARGET }, { handshake: { acknowledgeChallenge: false } });
    await client.closed;
    // sessionplugin.go prefixes every handshake failure; datachannel.go, finalizeKMSEncryption.
    t.equal(
      client.channelClosed()?.Output,
      `Encountered error while initiating handshake. ${CHALLENGE_ACK_REQUIRED_MESSAGE}`,
    );
    t.notOk(client.challengeRequest, 'no challenge was sent');
    t.notOk(sim.apiCalls.some((c) => c.caller === 'agent'), 'no Decrypt attempted');
  });
});

t.test('a data key generated with another context fails the agent Decrypt', async (t) => {
  const sim = await simulator(t);
  const { client } = await open(t, sim, { Target: TARGET }, { handshake: { targetId: 'ecs:other_target_x' } });
  await client.closed;
  // crypto/blockcipher.go and kmsservice.go wrap the KMS error; the AWS SDK prints code, message and status.
  t.match(
    client.channelClosed()?.Output,
    /^Encountered error while initiating handshake\. Fetching data key failed: Unable to retrieve data key, Error when decrypting data key InvalidCiphertextException: \n\tstatus code: 400, request id: [0-9a-f-]{36}$/,
  );
  t.equal(sim.apiCalls.find((c) => c.caller === 'agent')?.errorType, 'InvalidCiphertextException');
  t.notOk(client.handshakeComplete);
});

t.test('the agent Decrypts with the KeyId of its session preferences (crypto/kmsservice.go)', async (t) => {
  const sim = await simulator(t);
  const other = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555';
  const { client } = await open(t, sim, { Target: TARGET }, { handshake: { keyId: other } });
  await client.closed;
  const call = sim.apiCalls.find((c) => c.caller === 'agent');
  t.equal((call?.body as { KeyId?: string }).KeyId, KEY_ID);
  t.equal(call?.errorType, 'IncorrectKeyException', 'a data key under another key is refused');
  t.match(client.channelClosed()?.Output, /Error when decrypting data key IncorrectKeyException: /);
});

t.test('challenge failures and timeouts', async (t) => {
  // datachannel.go: handleEncryptionChallengeResponse returns an error (no ack, no
  // confirmation), so PerformHandshake times out; sessionplugin.go adds its prefix.
  const challengeTimeout = 'Encountered error while initiating handshake. Timed out waiting for encryption challenge.';
  await t.test('wrong challenge answer: not acked, retried in vain, then the timeout', async (t) => {
    const sim = await simulator(t, { handshakeTimeoutMs: 1500 });
    const { client } = await open(t, sim, { Target: TARGET }, { handshake: { wrongChallengeAnswer: true }, retransmitMs: 200 });
    await client.closed;
    const answerSeq = 1; // after the HandshakeResponse (0)
    t.equal(client.acksFor(0).length > 0, true, 'the HandshakeResponse is acked');
    t.equal(client.acksFor(answerSeq).length, 0, 'the wrong answer is never acked');
    t.ok(client.unacked.has(answerSeq), 'so the client still holds it for retransmission');
    t.equal(client.channelClosed()?.Output, challengeTimeout);
    t.notOk(client.handshakeComplete);
  });
  await t.test('no challenge answer', async (t) => {
    // Long enough for the client's GenerateDataKey round trip on a busy machine.
    const sim = await simulator(t, { handshakeTimeoutMs: 1500 });
    const { client } = await open(t, sim, { Target: TARGET }, { handshake: { answerChallenge: false } });
    await client.closed;
    t.equal(client.channelClosed()?.Output, challengeTimeout);
  });
  await t.test('no handshake response', async (t) => {
    const sim = await simulator(t, { handshakeTimeoutMs: 300 });
    const { client } = await open(t, sim, { Target: TARGET }, { handshake: { respond: false } });
    await client.closed;
    t.equal(
      client.channelClosed()?.Output,
      'Encountered error while initiating handshake. Handshake timed out. Please ensure that you have the latest version of the session manager plugin.',
    );
  });
});

t.test('input that does not decrypt: logged, not acked, the session goes on (datachannel.go)', async (t) => {
  const sim = await simulator(t);
  const { client, sessionId } = await open(t, sim, { Target: TARGET });
  await client.untilText(/\$ $/);
  const channel = sim.sessions.get(sessionId)?.agent.channel;
  const badSeq = client.nextSeq;
  const wrongKey = Buffer.alloc(32, 9);
  client.input(encryptPayload(wrongKey, Buffer.from('echo nope\r')), 1, { raw: true });
  const laterSeq = client.nextSeq;
  client.input('echo later\r');
  await client.until(() => client.acksFor(laterSeq).length > 0, 'the later frame acked (held out of order)');
  t.equal(client.acksFor(badSeq).length, 0, 'the frame that does not decrypt is not acked');
  t.equal(channel?.stats.decryptFailures, 1);
  t.equal(channel?.expectedInSeq, badSeq, 'input stops there: the client would retransmit it in vain');
  t.equal(channel?.bufferedInCount, 1, 'what came after waits in the out-of-order buffer');
  t.equal(client.channelClosed(), undefined, 'the session is not failed');
  t.notMatch(client.text(), /nope/);
  await callTarget(sim.endpoint, 'AmazonSSM.TerminateSession', { SessionId: sessionId });
  await client.closed;
});

t.test('during a KMS handshake Output payloads are decrypted first (datachannel.go, processStreamDataMessage)', async (t) => {
  const sim = await simulator(t, { handshakeTimeoutMs: 1500 });
  // Before any key exists the agent's decrypt panics in its read loop: it stops reading,
  // so even a correct HandshakeResponse is never processed.
  const early = await startAndOpen(sim.endpoint, { Target: TARGET }, { handshake: { respond: false } });
  t.teardown(() => early.client.close());
  await early.client.until(() => early.client.handshakeRequest, 'HandshakeRequest');
  early.client.input('typed too early', 1, { raw: true });
  await early.client.closed;
  const channel = sim.sessions.get(early.sessionId)?.agent.channel;
  t.equal(channel?.listeningToService, false, 'the read loop is gone');
  t.equal(early.client.acksFor(0).length, 0);
  t.match(early.client.channelClosed()?.Output, /Handshake timed out/);

  // Once the key is there (the response was processed), while the challenge is pending:
  // a payload that does not decrypt is not acked; one that does is acked and ignored.
  const later = await startAndOpen(sim.endpoint, { Target: TARGET }, { handshake: { answerChallenge: false } });
  t.teardown(() => later.client.close());
  await later.client.until(() => later.client.challengeRequest, 'EncChallengeRequest');
  const laterChannel = sim.sessions.get(later.sessionId)?.agent.channel;
  const plainSeq = later.client.nextSeq;
  later.client.input('plain text, not encrypted', 1, { raw: true });
  await later.client.until(() => laterChannel?.stats.decryptFailures === 1, 'the decrypt failure');
  t.equal(later.client.acksFor(plainSeq).length, 0, 'a payload that does not decrypt is not acked');
  // The same frame again, encrypted this time (as a retransmission): acked, and dropped.
  later.client.input(encryptPayload(later.client.keys!.clientEncrypt, Buffer.from('typed during the challenge')), 1, { raw: true, seq: plainSeq });
  await later.client.until(() => later.client.acksFor(plainSeq).length > 0, 'the encrypted payload acked');
  t.equal(laterChannel?.listeningToService, true, 'the read loop goes on');
  await later.client.closed;
  t.equal(later.client.channelClosed()?.Output, 'Encountered error while initiating handshake. Timed out waiting for encryption challenge.');
  t.notMatch(later.client.text(), /typed during/, 'a payload before HandshakeComplete is dropped');
});

t.test('KMSCipherTextKey is read as Go reads []byte: standard base64, CR/LF skipped (datachannel.go)', async (t) => {
  const sim = await simulator(t, { handshakeTimeoutMs: 1500 });
  const mangle = (change: (key: string) => string) => ({
    handshake: {
      responseOverride: (response: any) => {
        const kms = response.ProcessedClientActions.find((a: any) => a.ActionType === 'KMSEncryption');
        kms.ActionResult.KMSCipherTextKey = change(kms.ActionResult.KMSCipherTextKey);
        return response;
      },
    },
  });
  const wrapped = await open(t, sim, { Target: TARGET }, mangle((key) => key.replace(/(.{16})/g, '$1\r\n')));
  await wrapped.client.until(() => wrapped.client.handshakeComplete, 'HandshakeComplete with a line-wrapped key');
  const invalid = await open(t, sim, { Target: TARGET }, mangle((key) => `${key.slice(0, 8)}!${key.slice(8)}`));
  await invalid.client.closed;
  t.match(invalid.client.channelClosed()?.Output, /^Encountered error while initiating handshake\. illegal base64 data/);
  t.equal(sim.apiCalls.filter((c) => c.caller === 'agent').length, 1, 'only the readable key went to KMS Decrypt');
});

t.test('fault hooks: tampered ciphertext and a wrong agent key', async (t) => {
  await t.test('tamperEncryptedNext: digest valid, GCM tag fails, once', async (t) => {
    const sim = await simulator(t);
    const { client } = await open(t, sim, { Target: TARGET });
    await client.untilText(/\$ $/);
    const before = client.payloads.length;
    sim.faults.tamperEncryptedNext();
    client.input('echo one\r');
    await client.until(() => client.payloads.slice(before).some((p) => p.data === undefined), 'a bad payload');
    client.input('echo two-$((1+1))\r');
    await client.untilText(/two-2\r\n/);
    const later = client.payloads.slice(before).filter((p) => p.payloadType === 1);
    t.equal(later.filter((p) => p.data === undefined).length, 1, 'exactly one payload fails');
    t.ok(client.received.every((r) => r.error === undefined), 'every frame digest is valid');
  });
  await t.test("wrong key 'output': challenge succeeds, payloads fail", async (t) => {
    const sim = await simulator(t);
    sim.faults.setWrongAgentKey('output');
    const { client } = await open(t, sim, { Target: TARGET });
    await client.until(() => client.handshakeComplete, 'HandshakeComplete');
    await client.until(() => client.payloads.some((p) => p.payloadType === 1), 'output');
    t.ok(client.payloads.filter((p) => p.payloadType === 1).every((p) => p.data === undefined));
    t.ok(decryptPayload(client.keys!.agentEncrypt, Buffer.from(client.challengeRequest.Challenge, 'base64')));
  });
  await t.test("wrong key 'all': the client cannot read the challenge", async (t) => {
    const sim = await simulator(t, { handshakeTimeoutMs: 1500 });
    sim.faults.setWrongAgentKey('all');
    const { client } = await open(t, sim, { Target: TARGET });
    await client.closed;
    t.ok(client.challengeRequest);
    t.throws(() => decryptPayload(client.keys!.agentEncrypt, Buffer.from(client.challengeRequest.Challenge, 'base64')));
    t.equal(client.channelClosed()?.Output, `Encountered error while initiating handshake. ${CHALLENGE_TIMEOUT_MESSAGE}`);
  });
});

t.test('preferences: per-session override, and Port is never encrypted', async (t) => {
  const sim = await startSimulator({ shellDelayMs: 50 });
  t.teardown(() => sim.close());
  const plain = await open(t, sim, { Target: TARGET });
  await plain.client.untilText(/\$ $/);
  t.equal(plain.client.frames('output_stream_data')[0]?.payloadType, 1, 'no KMS: no handshake');

  sim.nextSessionPreferences({ kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555' });
  const encrypted = await open(t, sim, { Target: TARGET });
  await encrypted.client.until(() => encrypted.client.handshakeComplete, 'HandshakeComplete');
  t.equal(sim.sessions.get(encrypted.sessionId)?.preferences.kmsKeyId?.startsWith('arn:aws:kms:'), true);

  const again = await open(t, sim, { Target: TARGET });
  await again.client.untilText(/\$ $/);
  t.equal(again.client.frames('output_stream_data')[0]?.payloadType, 1, 'the override was one-shot');

  sim.setSessionPreferences({ kmsKeyId: KEY_ID });
  const port = await open(t, sim, { Target: TARGET, DocumentName: 'AWS-StartPortForwardingSession', Parameters: { portNumber: ['1'] } });
  await port.client.until(() => port.client.handshakeComplete, 'HandshakeComplete');
  t.equal(port.client.handshakeRequest.RequestedClientActions.length, 1, 'Port: no KMSEncryption action');
  t.equal(port.client.handshakeComplete.CustomerMessage, '');
  sim.setSessionPreferences({ kmsKeyId: undefined });
  t.equal(sim.sessionPreferences.kmsKeyId, undefined);
});

t.test('KMS with command sessions: InteractiveCommands handshakes; 1/11/12 encrypted', async (t) => {
  const sim = await simulator(t);
  const interactive = await open(t, sim, {
    Target: TARGET,
    DocumentName: 'AWS-StartInteractiveCommand',
    Parameters: { command: ['echo interactive-$((2+3))'] },
  });
  await interactive.client.closed;
  t.equal(interactive.client.handshakeRequest.RequestedClientActions[0].ActionParameters.SessionType, 'InteractiveCommands');
  t.match(interactive.client.text(), /interactive-5/);

  const separate = await open(t, sim, {
    Target: TARGET,
    DocumentName: 'AWS-StartNonInteractiveCommand',
    Parameters: { command: ["sh -c 'echo out; echo err >&2; exit 4'"], separateOutputStream: ['true'] },
  });
  const c: RawClient = separate.client;
  await c.closed;
  t.equal(c.handshakeComplete.CustomerMessage, KMS_CUSTOMER_MESSAGE);
  t.equal(c.text(1), 'out\n');
  t.equal(c.text(11), 'err\n');
  t.equal(c.text(12), 'EXIT_CODE: 4');
  const dataPayloads = c.payloads.filter((p) => [1, 11, 12].includes(p.payloadType));
  t.equal(dataPayloads.length, 3);
  t.ok(dataPayloads.every((p) => p.wire.length === (p.data?.length ?? -1) + 28), 'all three types encrypted');
});
