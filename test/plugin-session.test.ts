import t from 'tap';
import { PassThrough } from 'node:stream';
import { memoryLink, type MemoryTransport } from '../src/transport/memory-transport.ts';
import { PluginSession } from '../src/cli/plugin-session.ts';
import { MessageType, PayloadType } from '../src/protocol/constants.ts';
import { encodeFrame } from '../src/protocol/frame.ts';
import { decodeHandshakeResponse } from '../src/protocol/payloads.ts';
import { agentPeer } from './helpers/agent-peer.ts';

/** A scripted agent (the simulator's agent channel) on the far end of a lossy in-memory link. */
function harness() {
  const [clientEnd, agentEnd] = memoryLink({ dropRate: 0.1, seed: 3 }, { dropRate: 0.1, seed: 4 });
  const agent = agentPeer(agentEnd, 'sess-1');
  const received = agent.received;
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let screen = '';
  stdout.on('data', (d) => (screen += d));
  const opens: string[] = [];
  const session = new PluginSession({
    sessionId: 'sess-1',
    tokenValue: 'tok',
    streamUrl: 'ws://unused',
    target: 'i-1',
    io: { stdin: stdin as never, stdout: stdout as never, stderr: new PassThrough() },
    connect: async (_url, open) => (opens.push(open), clientEnd),
  });
  const closeChannel = (output: string) =>
    agentEnd.send(
      encodeFrame({ messageType: MessageType.ChannelClosed, schemaVersion: 1, createdDate: Date.now(), sequenceNumber: 0, flags: 3, messageId: crypto.randomUUID(), payloadType: 1, payload: Buffer.from(JSON.stringify({ Output: output })) }),
    );
  return { agent, agentEnd: agentEnd as MemoryTransport, received, stdin, screen: () => screen, opens, session, closeChannel };
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

t.test('plain shell: first output starts the session, input and size flow, channel_closed ends it', async (t) => {
  const h = harness();
  const outcome = h.session.run();
  h.agent.send(PayloadType.Output, Buffer.from('sh-5.2$ '));
  await until(() => h.screen().includes('sh-5.2$ '));
  h.stdin.write('echo hi\r');
  await until(() => h.received.some((r) => r.type === PayloadType.Output));
  t.same(JSON.parse(h.received[0]!.payload.toString()), { cols: 300, rows: 100 }, 'size first (not a TTY: fallback)');
  t.equal(h.received[0]!.type, PayloadType.Size);
  t.equal(h.received.find((r) => r.type === PayloadType.Output)!.payload.toString(), 'echo hi\r');
  h.agent.send(PayloadType.Output, Buffer.from('hi\r\n'));
  await until(() => h.screen().includes('hi\r\n'));
  h.stdin.end();
  await until(() => h.received.some((r) => r.payload.equals(Buffer.from([4]))));
  t.pass('stdin EOF sends EOT so the remote shell ends');
  h.closeChannel('');
  t.same(await outcome, { status: 'closed', output: '' });
  const open = JSON.parse(h.opens[0]!);
  t.same(Object.keys(open), ['MessageSchemaVersion', 'RequestId', 'TokenValue', 'ClientId', 'ClientVersion']);
  t.equal(open.TokenValue, 'tok');
  h.agent.close();
});

t.test('handshake: response lists the session type, CustomerMessage is printed', async (t) => {
  const h = harness();
  const outcome = h.session.run();
  h.agent.send(
    PayloadType.HandshakeRequest,
    Buffer.from(JSON.stringify({ AgentVersion: '3.3.987.0', RequestedClientActions: [{ ActionType: 'SessionType', ActionParameters: { SessionType: 'NonInteractiveCommands', Properties: null } }, { ActionType: 'Mystery', ActionParameters: {} }] })),
  );
  await until(() => h.received.some((r) => r.type === PayloadType.HandshakeResponse));
  const response = decodeHandshakeResponse(h.received.find((r) => r.type === PayloadType.HandshakeResponse)!.payload)!;
  t.equal(response.ClientVersion, '1.2.700.0');
  t.same(response.ProcessedClientActions.map((a) => a.ActionStatus), [1, 3], 'unknown action is Unsupported (3), not 0');
  h.agent.send(PayloadType.HandshakeComplete, Buffer.from(JSON.stringify({ HandshakeTimeToComplete: 1000, CustomerMessage: 'Hello from the agent' })));
  h.agent.send(PayloadType.Output, Buffer.from('result\n'));
  await until(() => h.screen().includes('result\n'));
  t.match(h.screen(), /Hello from the agent\n/);
  h.closeChannel('Command failed');
  t.same(await outcome, { status: 'closed', output: 'Command failed' });
  h.agent.close();
});
