import t from 'tap';
import { parseInvocation, INSTALL_CHECK_TEXT, unknownOperationText } from '../src/cli/invocation.ts';
import { runPlugin } from '../src/cli/run-plugin.ts';
import { PassThrough } from 'node:stream';

const response = { SessionId: 'sess-1', TokenValue: 'tok-SECRET-123', StreamUrl: 'ws://127.0.0.1:9/v1/data-channel/sess-1' };

t.test('argument count decides the mode (§1.1)', async (t) => {
  t.same(parseInvocation([], {}), { kind: 'install-check' });
  t.same(parseInvocation(['--version'], {}), { kind: 'version' });
  t.same(parseInvocation(['foo'], {}), { kind: 'unknown-operation', operation: 'foo' });
  t.same(parseInvocation(['foo', 'bar'], {}), { kind: 'unknown-operation', operation: 'foo' });
  t.same(parseInvocation(['{}', 'us-east-1', 'Stop'], {}), { kind: 'invalid-operation' });
});

t.test('env-var path reads, then removes, the variable (prefix match)', async (t) => {
  const env: NodeJS.ProcessEnv = { AWS_SSM_START_SESSION_RESPONSE_X: JSON.stringify(response) };
  const parsed = parseInvocation(['AWS_SSM_START_SESSION_RESPONSE_X', 'eu-west-1', 'StartSession', 'prof', '{"Target":"i-0123"}', 'https://ssm.eu-west-1.amazonaws.com'], env);
  t.equal(parsed.kind, 'start');
  if (parsed.kind !== 'start') return;
  t.equal(parsed.responseFromEnv, true);
  t.same(
    { ...parsed.request, parameters: undefined },
    { sessionId: 'sess-1', tokenValue: 'tok-SECRET-123', streamUrl: response.StreamUrl, region: 'eu-west-1', profile: 'prof', target: 'i-0123', endpoint: 'https://ssm.eu-west-1.amazonaws.com', legacy: false, parameters: undefined },
  );
  t.notOk('AWS_SSM_START_SESSION_RESPONSE_X' in env, 'variable removed');
});

t.test('ECS camelCase keys and the 4-argument legacy form', async (t) => {
  const ecs = JSON.stringify({ sessionId: 'ecs-1', streamUrl: 'wss://x/y', tokenValue: 't' });
  const parsed = parseInvocation([ecs, 'us-east-1', 'StartSession'], {});
  t.equal(parsed.kind, 'start');
  if (parsed.kind === 'start') {
    t.equal(parsed.request.sessionId, 'ecs-1');
    t.equal(parsed.request.streamUrl, 'wss://x/y');
    t.equal(parsed.request.legacy, true);
    t.equal(parsed.responseFromEnv, false);
  }
});

t.test('bad input gives a clear message without the token', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['{"TokenValue":"tok-SECRET-123", bad', 'r', 'StartSession'], {}, /not a JSON object/],
    [[JSON.stringify({ ...response, StreamUrl: undefined }), 'r', 'StartSession'], {}, /no StreamUrl/],
    [[JSON.stringify({ ...response, TokenValue: '' }), 'r', 'StartSession'], {}, /no TokenValue/],
    [[JSON.stringify(response), 'r', 'StartSession', '', 'not json tok-SECRET-123'], {}, /argument 5/],
    [[JSON.stringify(response), 'r', 'StartSession', '', '{"Target":5}'], {}, /Target is not a string/],
    [['AWS_SSM_START_SESSION_RESPONSE', 'r', 'StartSession'], {}, /is not set/],
  ];
  for (const [args, env, pattern] of cases) {
    const parsed = parseInvocation(args, env);
    t.equal(parsed.kind, 'bad-input');
    if (parsed.kind === 'bad-input') {
      t.match(parsed.message, pattern);
      t.notMatch(parsed.message, /SECRET/);
    }
  }
});

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: '', err: '' };
  stdout.on('data', (d) => (chunks.out += d));
  stderr.on('data', (d) => (chunks.err += d));
  const code = await runPlugin(args, { env, io: { stdin: new PassThrough(), stdout: stdout as never, stderr } });
  return { code, ...chunks };
}

t.test('printed texts and exit codes', async (t) => {
  t.same(await run([]), { code: 0, out: INSTALL_CHECK_TEXT, err: '' });
  t.same(await run(['--version']), { code: 0, out: '1.2.700.0\n', err: '' });
  t.same(await run(['x']), { code: 0, out: unknownOperationText('x'), err: '' });
  t.same(await run(['{}', 'r', 'Nope', '']), { code: 0, out: 'Invalid Operation', err: '' });
  // Token in argv: exit 0, or the AWS CLI would print argv (and the token) on failure.
  const argvPath = await run(['{"TokenValue":"tok-SECRET-123"}', 'r', 'StartSession']);
  t.equal(argvPath.code, 0);
  t.equal(argvPath.err, 'Cannot perform start session: the StartSession response has no SessionId\n');
  // Token in the environment: a failure can safely exit non-zero.
  const envPath = await run(['AWS_SSM_START_SESSION_RESPONSE', 'r', 'StartSession'], { AWS_SSM_START_SESSION_RESPONSE: '[1]' });
  t.equal(envPath.code, 1);
  t.match(envPath.err, /not a JSON object/);
});

t.test('the version is 4 numeric parts above 1.2.497.0 (AWS CLI env-var gate)', async (t) => {
  const { out } = await run(['--version']);
  const parts = out.trim().split('.').map(Number);
  t.equal(parts.length, 4);
  const gate = [1, 2, 497, 0];
  const cmp = parts.map((p, i) => p - gate[i]!).find((d) => d !== 0) ?? 0;
  t.ok(cmp > 0);
});
