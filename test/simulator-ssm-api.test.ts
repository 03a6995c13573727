import t from 'tap';
import {
  ResumeSessionCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-ssm';
import { startSimulator } from '../src/simulator/index.ts';

const TARGET = 'i-0123456789abcdef0';

t.test('SSM API through the real SDK', async (t) => {
  const sim = await startSimulator({ disconnectedTargets: ['i-0fffffffffffffff0'] });
  t.teardown(() => sim.close());
  const ssm = new SSMClient({
    region: 'us-east-1',
    endpoint: sim.endpoint,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  t.teardown(() => ssm.destroy());

  const started = await ssm.send(new StartSessionCommand({ Target: TARGET, Reason: 'test' }));
  t.match(started.SessionId, /^sim-[0-9a-f]{17}$/);
  t.ok((started.TokenValue ?? '').length >= 200, 'long token');
  const sessionId = started.SessionId ?? '';
  const streamUrl = new URL(started.StreamUrl ?? '');
  t.equal(streamUrl.protocol, 'ws:');
  t.equal(streamUrl.host, `127.0.0.1:${sim.port}`);
  t.equal(streamUrl.pathname, `/v1/data-channel/${sessionId}`);
  t.equal(streamUrl.searchParams.get('role'), 'publish_subscribe');
  t.match(streamUrl.searchParams.get('cell-number'), /^[A-Za-z0-9_-]{16,}$/);
  const session = sim.sessions.get(sessionId);
  t.equal(session?.target, TARGET);
  t.equal(session?.documentName, 'SSM-SessionManagerRunShell');
  t.equal(session?.token, started.TokenValue);
  t.equal(session?.agent.sessionType, 'Standard_Stream');

  const resumed = await ssm.send(new ResumeSessionCommand({ SessionId: sessionId }));
  t.equal(resumed.SessionId, sessionId);
  t.ok(resumed.TokenValue && resumed.TokenValue !== started.TokenValue, 'fresh token');
  t.equal(session?.token, resumed.TokenValue, 'only the new token is current');
  t.equal(resumed.StreamUrl, started.StreamUrl);

  sim.faults.refuseResume(60_000);
  await t.rejects(ssm.send(new ResumeSessionCommand({ SessionId: sessionId })), { name: 'InternalServerError' });
  sim.faults.refuseResume(0);

  const terminated = await ssm.send(new TerminateSessionCommand({ SessionId: sessionId }));
  t.equal(terminated.SessionId, sessionId);
  t.equal(session?.status, 'terminated');
  await t.rejects(ssm.send(new ResumeSessionCommand({ SessionId: sessionId })), { name: 'DoesNotExistException' });
  const again = await ssm.send(new TerminateSessionCommand({ SessionId: sessionId }));
  t.equal(again.SessionId, sessionId, 'terminating an ended session is idempotent');
  await t.rejects(ssm.send(new TerminateSessionCommand({ SessionId: 'sim-00000000000000000' })), {
    name: 'DoesNotExistException',
  });

  await t.rejects(ssm.send(new StartSessionCommand({ Target: 'not-an-instance' })), { name: 'InvalidTarget' });
  await t.rejects(ssm.send(new StartSessionCommand({ Target: 'i-0fffffffffffffff0' })), {
    name: 'TargetNotConnected',
    message: 'i-0fffffffffffffff0 is not connected.',
  });
  await t.rejects(ssm.send(new StartSessionCommand({ Target: TARGET, DocumentName: 'No-Such-Document' })), {
    name: 'InvalidDocument',
  });
  const ecs = await ssm.send(new StartSessionCommand({ Target: 'ecs:cluster_0123abcd_0123abcd-1234' }));
  t.match(ecs.SessionId, /^sim-/, 'ECS exec targets are accepted');

  t.same(
    sim.apiCalls.map((c) => [c.operation, c.status, c.errorType ?? '']),
    [
      ['StartSession', 200, ''],
      ['ResumeSession', 200, ''],
      ['ResumeSession', 500, 'InternalServerError'],
      ['TerminateSession', 200, ''],
      ['ResumeSession', 400, 'DoesNotExistException'],
      ['TerminateSession', 200, ''],
      ['TerminateSession', 400, 'DoesNotExistException'],
      ['StartSession', 400, 'InvalidTarget'],
      ['StartSession', 400, 'TargetNotConnected'],
      ['StartSession', 400, 'InvalidDocument'],
      ['StartSession', 200, ''],
    ],
  );
  t.same(sim.apiCalls[0]?.body, { Target: TARGET, Reason: 'test' });
  t.same(sim.apiCalls[3]?.body, { SessionId: sessionId });
});

t.test('unsigned and unknown requests get AWS JSON errors', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const headers = {
    'Content-Type': 'application/x-amz-json-1.1',
    'X-Amz-Target': 'AmazonSSM.StartSession',
  };
  const unsigned = await fetch(sim.endpoint, {
    method: 'POST',
    headers,
    body: JSON.stringify({ Target: TARGET }),
  });
  t.equal(unsigned.status, 403);
  t.equal(unsigned.headers.get('content-type'), 'application/x-amz-json-1.1');
  t.same(await unsigned.json(), {
    __type: 'MissingAuthenticationTokenException',
    message: 'Missing Authentication Token',
  });
  t.equal(sim.sessions.size, 0, 'no session was created');

  const authorization = 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=00';
  const unknown = await fetch(sim.endpoint, {
    method: 'POST',
    headers: { ...headers, 'X-Amz-Target': 'AmazonSSM.SendCommand', Authorization: authorization },
    body: '{}',
  });
  t.equal(unknown.status, 400);
  t.match(await unknown.json(), { __type: 'UnknownOperationException' });

  const garbage = await fetch(sim.endpoint, {
    method: 'POST',
    headers: { ...headers, Authorization: authorization },
    body: 'not json',
  });
  t.equal(garbage.status, 400);
  t.match(await garbage.json(), { __type: 'SerializationException' });

  const missing = await fetch(sim.endpoint, {
    method: 'POST',
    headers: { ...headers, Authorization: authorization },
    body: '{}',
  });
  t.equal(missing.status, 400);
  t.match(await missing.json(), { __type: 'ValidationException' });
  t.same(
    sim.apiCalls.map((c) => [c.operation, c.errorType]),
    [
      ['StartSession', 'MissingAuthenticationTokenException'],
      ['SendCommand', 'UnknownOperationException'],
      ['StartSession', 'SerializationException'],
      ['StartSession', 'ValidationException'],
    ],
  );
});
