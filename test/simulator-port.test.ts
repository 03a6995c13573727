import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SmuxSession } from '../src/smux/session.ts';
import type { SmuxStream } from '../src/smux/stream.ts';
import type { BasicPortSession, MuxPortSession, PortSession } from '../src/simulator/agent/port-session.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.ts';
import { callTarget, RawClient, type StartResponse } from './helpers/sim-raw-client.ts';

/*
 * Port sessions on the simulated agent, driven by a client written here from the codec
 * and (for mux) the smux package alone: no plugin session code is involved, so these
 * tests check the simulator's behaviour against the protocol notes, not our client.
 */

const TARGET = 'i-0123456789abcdef0';
const NEW_CLIENT = '1.2.700.0';
/** Below 1.1.70: the agent uses basic mode for LocalPortForwarding. */
const OLD_CLIENT = '1.1.61.0';

async function startSession(sim: Simulator, document: string, parameters: Record<string, string[]>) {
  const { status, json } = await callTarget(sim.endpoint, 'AmazonSSM.StartSession', {
    Target: TARGET,
    DocumentName: document,
    Parameters: parameters,
  });
  if (status !== 200) throw new Error(`StartSession: ${JSON.stringify(json)}`);
  return json as StartResponse;
}

async function until<T>(check: () => T | undefined | false | null, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false && value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * The codec-only client (test/helpers/sim-raw-client.ts) as a port client: it answers the
 * handshake with a chosen ClientVersion, retransmits its oldest unacked frame after 300 ms
 * (as the official client does) so that frames the agent refuses are not lost, and fails
 * on any frame that does not decode.
 */
function openPort(sim: Simulator, start: StartResponse, clientVersion = NEW_CLIENT): Promise<RawClient> {
  return RawClient.open(start.StreamUrl, start.TokenValue, {
    sessionId: start.SessionId,
    target: TARGET,
    endpoint: sim.endpoint,
    clientVersion,
    retransmitMs: 300,
    strictFrames: true,
  });
}

async function ready(client: RawClient): Promise<void> {
  await until(() => client.handshakeComplete, 'HandshakeComplete');
}

/** The in-order Output bytes so far. */
const output = (client: RawClient): Buffer => Buffer.concat(client.outputs());

const outputBytes = (client: RawClient): number => client.outputs().reduce((sum, o) => sum + o.length, 0);

/** The in-order Flag payloads' codes. */
const flags = (client: RawClient): number[] =>
  client.payloads.filter((p) => p.payloadType === 10).map((p) => p.wire.readUInt32BE(0));

/** Calls `listener` with each in-order Output payload. */
function onOutput(client: RawClient, listener: (payload: Buffer) => void): void {
  client.onPayload = (p) => {
    if (p.payloadType === 1) listener(p.wire);
  };
}

interface TcpServer {
  port: number;
  server: Server;
  connections: Socket[];
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1; `handler` gets each connection. */
async function tcpServer(handler: (socket: Socket) => void): Promise<TcpServer> {
  const connections: Socket[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    socket.on('error', () => undefined);
    handler(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const echo = (socket: Socket): void => {
  socket.pipe(socket);
};

async function closedPort(): Promise<number> {
  const server = await tcpServer(() => undefined);
  await server.close();
  return server.port;
}

async function withSim(t: TestContext, options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options);
  t.teardown(() => sim.close());
  return sim;
}

function plugin<T extends PortSession>(sim: Simulator, sessionId: string): T {
  return sim.sessions.get(sessionId)?.agent.sessionPlugin as T;
}

/** An AWS-StartPortForwardingSession to `port` and a client on it (closed with `t`), handshake done. */
async function forwardSession(t: TestContext, sim: Simulator, port: number, clientVersion = NEW_CLIENT) {
  const start = await startSession(sim, 'AWS-StartPortForwardingSession', { portNumber: [String(port)] });
  const client = await openPort(sim, start, clientVersion);
  t.teardown(() => client.close());
  await ready(client);
  return { start, client };
}

/** A mux-mode forwarding session to an echo server, with an smux client on it (all closed with `t`). */
async function muxEchoSession(t: TestContext) {
  const echoServer = await tcpServer(echo);
  t.teardown(() => echoServer.close());
  const sim = await withSim(t, { pacing: false });
  const { start, client } = await forwardSession(t, sim, echoServer.port);
  const mux = muxClient(client);
  t.teardown(() => mux.close());
  return { echoServer, sim, start, client, mux };
}

/** An smux client carried in the client's Output payloads (≤1024 bytes each). */
function muxClient(client: RawClient): SmuxSession {
  const mux = new SmuxSession({
    role: 'client',
    keepAlive: false,
    write: (bytes) => {
      client.sendData(bytes);
      return true;
    },
  });
  onOutput(client, (payload) => mux.input(Buffer.from(payload)));
  return mux;
}

function collect(stream: SmuxStream): { data: () => Buffer; length: () => number; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  let length = 0;
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
  });
  const ended = new Promise<void>((resolve) => stream.on('end', () => resolve()));
  return { data: () => Buffer.concat(chunks), length: () => length, ended };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];

// ---------------------------------------------------------------------------------------

t.test('handshake contents per document', async (t) => {
  const sim = await withSim(t, { agentVersion: '3.2.582.0' });
  const cases: Array<{ document: string; parameters: Record<string, string[]>; properties: Record<string, string> }> = [
    {
      document: 'AWS-StartPortForwardingSession',
      parameters: { portNumber: ['8080'], localPortNumber: ['9090'] },
      properties: { portNumber: '8080', localPortNumber: '9090', type: 'LocalPortForwarding' },
    },
    {
      document: 'AWS-StartPortForwardingSession',
      parameters: { portNumber: ['8080'], localUnixSocket: ['/tmp/x.sock'], localConnectionType: ['unix'] },
      properties: {
        portNumber: '8080',
        localPortNumber: '0',
        localUnixSocket: '/tmp/x.sock',
        localConnectionType: 'unix',
        type: 'LocalPortForwarding',
      },
    },
    {
      document: 'AWS-StartPortForwardingSessionToRemoteHost',
      parameters: { host: ['localhost'], portNumber: ['5432'], localPortNumber: ['15432'] },
      properties: { host: 'localhost', portNumber: '5432', localPortNumber: '15432', type: 'LocalPortForwarding' },
    },
    { document: 'AWS-StartSSHSession', parameters: { portNumber: ['2222'] }, properties: { portNumber: '2222' } },
    { document: 'AWS-StartSSHSession', parameters: {}, properties: { portNumber: '22' } },
  ];
  for (const c of cases) {
    const start = await startSession(sim, c.document, c.parameters);
    const client = await openPort(sim, start);
    await ready(client);
    t.equal(client.handshakeRequest?.AgentVersion, '3.2.582.0', `${c.document}: AgentVersion`);
    t.equal(client.handshakeRequest?.RequestedClientActions.length, 1);
    const action = client.handshakeRequest?.RequestedClientActions[0];
    t.equal(action?.ActionType, 'SessionType');
    t.same(action?.ActionParameters, { SessionType: 'Port', Properties: c.properties }, `${c.document}: properties`);
    const properties = (action?.ActionParameters as { Properties: Record<string, unknown> }).Properties;
    t.ok(Object.values(properties).every((v) => typeof v === 'string'), 'all property values are strings');
    t.notOk('type' in c.properties && c.document === 'AWS-StartSSHSession');
    t.equal(client.payloads[0]?.frame.flags, 1, 'HandshakeRequest is seq 0 with flags 1');
    t.equal(client.payloads[1]?.frame.payloadType, 7, 'HandshakeComplete follows');
    t.equal(client.handshakeComplete?.CustomerMessage, '', 'no customer message without KMS');
    client.close();
  }

  const unknown = await callTarget(sim.endpoint, 'AmazonSSM.StartSession', {
    Target: TARGET,
    DocumentName: 'AWS-StartPortForwardingSession',
    Parameters: { portNumber: ['80'], bogus: ['1'] },
  });
  t.equal(unknown.status, 400);
  t.equal(unknown.json.__type, 'InvalidParameters');
  const noHost = await callTarget(sim.endpoint, 'AmazonSSM.StartSession', {
    Target: TARGET,
    DocumentName: 'AWS-StartPortForwardingSessionToRemoteHost',
    Parameters: { portNumber: ['80'] },
  });
  t.equal(noHost.json.__type, 'InvalidParameters', 'host is required for the remote-host document');
});

t.test('mode selection follows the agent rule', async (t) => {
  const echoServer = await tcpServer(echo);
  t.teardown(() => echoServer.close());
  const port = String(echoServer.port);
  const sim = await withSim(t, { pacing: false });
  const mode = async (document: string, clientVersion: string) => {
    const start = await startSession(sim, document, { portNumber: [port] });
    const client = await openPort(sim, start, clientVersion);
    await ready(client);
    const p = await until(() => plugin<PortSession>(sim, start.SessionId), 'plugin');
    client.close();
    return { mode: p.mode, keepAlive: (p as MuxPortSession).keepAlive };
  };
  t.same(await mode('AWS-StartPortForwardingSession', NEW_CLIENT), { mode: 'mux', keepAlive: false });
  t.same(await mode('AWS-StartPortForwardingSession', '1.1.70'), { mode: 'mux', keepAlive: true });
  t.same(await mode('AWS-StartPortForwardingSession', '1.2.331.0'), { mode: 'mux', keepAlive: true });
  t.same(await mode('AWS-StartPortForwardingSession', '1.2.331.1'), { mode: 'mux', keepAlive: false });
  t.equal((await mode('AWS-StartPortForwardingSession', OLD_CLIENT)).mode, 'basic');
  t.equal((await mode('AWS-StartPortForwardingSession', '')).mode, 'basic', 'an empty ClientVersion sorts low');
  t.equal((await mode('AWS-StartSSHSession', NEW_CLIENT)).mode, 'basic', 'no type: basic/standard stream');
});

t.test('basic mode: round trip, DisconnectToPort and re-dial', async (t) => {
  const echoServer = await tcpServer(echo);
  t.teardown(() => echoServer.close());
  const sim = await withSim(t, { pacing: false });
  const { start, client } = await forwardSession(t, sim, echoServer.port, OLD_CLIENT);
  await until(() => echoServer.connections.length === 1, 'the agent dials at session start');
  const session = plugin<BasicPortSession>(sim, start.SessionId);
  t.equal(session.mode, 'basic');

  client.sendData(Buffer.from('hello, port\n'));
  await until(() => output(client).toString() === 'hello, port\n', 'echo');

  client.flag(1); // DisconnectToPort
  const first = echoServer.connections[0]!;
  await until(() => first.closed || first.readableEnded, 'the destination connection is closed');
  t.equal(echoServer.connections.length, 1, 'no re-dial before the next payload');

  const payload = randomBytes(5000);
  client.sendData(payload);
  await until(() => echoServer.connections.length === 2, 're-dial on the next payload');
  await until(() => outputBytes(client) === 12 + payload.length, 'second echo');
  t.equal(sha256(output(client).subarray(12)), sha256(payload), 'the re-dial carried the payload and the rest');
  t.equal(session.dials, 2);

  // The destination closing by itself is not reported; the next payload re-dials silently.
  echoServer.connections[1]!.destroy();
  await until(() => session.state === 'disconnected', 'agent notices the close');
  client.sendData(Buffer.from('again'));
  await until(() => output(client).toString().endsWith('again'), 'echo after a silent re-dial');
  t.equal(echoServer.connections.length, 3);
  t.equal(client.channelClosed(), undefined, 'the session goes on');
  t.ok(client.outputs().every((o) => o.length <= 1024), 'Output payloads are at most 1024 bytes');
});

t.test('ssh document: the destination closing ends the session', async (t) => {
  const sshd = await tcpServer((socket) => {
    socket.write('SSH-2.0-FakeSSH_1.0\r\n');
    socket.once('data', (data) => socket.end(Buffer.concat([Buffer.from('got:'), data])));
  });
  t.teardown(() => sshd.close());
  const sim = await withSim(t);
  const start = await startSession(sim, 'AWS-StartSSHSession', { portNumber: [String(sshd.port)] });
  const client = await openPort(sim, start);
  t.teardown(() => client.close());
  await ready(client);
  t.equal(plugin<PortSession>(sim, start.SessionId).mode, 'basic');
  await until(() => output(client).toString().includes('SSH-2.0-FakeSSH_1.0\r\n'), 'banner');
  client.sendData(Buffer.from('SSH-2.0-Client\r\n'));
  await client.closed;
  t.equal(output(client).toString(), 'SSH-2.0-FakeSSH_1.0\r\ngot:SSH-2.0-Client\r\n', 'all data before the end');
  t.equal(client.channelClosed()?.Output, '', 'channel_closed with an empty Output: a normal end');
});

t.test('basic mode: failures at session start', async (t) => {
  const sim = await withSim(t);
  const port = await closedPort();
  const refused = await startSession(sim, 'AWS-StartPortForwardingSession', { portNumber: [String(port)] });
  const client = await openPort(sim, refused, OLD_CLIENT);
  t.teardown(() => client.close());
  await client.closed;
  t.equal(
    client.channelClosed()?.Output,
    `Unable to connect to specified port: dial tcp 127.0.0.1:${port}: connect: connection refused`,
    'a dial failure fails the session with the agent\'s text (port_basic.go, InitializeSession)',
  );

  const imds = await startSession(sim, 'AWS-StartPortForwardingSessionToRemoteHost', {
    host: ['169.254.169.254'],
    portNumber: ['80'],
  });
  const second = await openPort(sim, imds);
  t.teardown(() => second.close());
  await second.closed;
  t.equal(second.channelClosed()?.Output, 'Forwarding to IP address 169.254.169.254 is forbidden.');
});

t.test('basic mode: a failed re-dial fails the session (port_basic.go, handlePortError)', async (t) => {
  const echoServer = await tcpServer(echo);
  const sim = await withSim(t, { pacing: false });
  const { start, client } = await forwardSession(t, sim, echoServer.port, OLD_CLIENT);
  await until(() => echoServer.connections.length === 1, 'the agent dials at session start');
  const session = plugin<BasicPortSession>(sim, start.SessionId);
  await echoServer.close(); // the destination goes away: the next dial is refused
  await until(() => session.state === 'disconnected', 'the agent notices the close');
  const seq = client.nextSeq;
  client.sendData(Buffer.from('anyone there?'));
  await client.closed;
  t.equal(client.acksFor(seq).length, 0, 'the payload that asked for the dial is not acknowledged');
  t.equal(session.dials, 1);
  const agent = sim.sessions.get(start.SessionId)?.agent;
  t.same(agent?.result, { status: 'failed', output: '', terminating: false }, 'the session ended as failed');
  t.equal(client.channelClosed()?.Output, '', 'the agent sets no text for it');
});

t.test('ssh document: DisconnectToPort or a destination error fails the session; EOF ends it', async (t) => {
  const sim = await withSim(t);
  const quiet = await tcpServer((socket) => socket.write('SSH-2.0-FakeSSH_1.0\r\n'));
  t.teardown(() => quiet.close());
  const results: Record<string, unknown> = {};
  for (const ending of ['DisconnectToPort', 'reset', 'EOF'] as const) {
    const start = await startSession(sim, 'AWS-StartSSHSession', { portNumber: [String(quiet.port)] });
    const client = await openPort(sim, start);
    t.teardown(() => client.close());
    await ready(client);
    await until(() => output(client).toString().includes('SSH-2.0-FakeSSH_1.0'), 'banner');
    const socket = quiet.connections.at(-1) as Socket;
    if (ending === 'DisconnectToPort') client.flag(1);
    else if (ending === 'reset') socket.resetAndDestroy();
    else socket.end();
    await client.closed;
    results[ending] = sim.sessions.get(start.SessionId)?.agent.result?.status;
  }
  // port_basic.go, handleSSHDPortError: only io.EOF is a success; DisconnectToPort closes the
  // connection under the read loop, whose read then fails.
  t.same(results, { DisconnectToPort: 'failed', reset: 'failed', EOF: 'success' });
});

t.test('port sessions never report agent_session_state Terminating (port.go); shells do, unless cancelled', async (t) => {
  const echoServer = await tcpServer(echo);
  t.teardown(() => echoServer.close());
  const sim = await withSim(t, { pacing: false, shellDelayMs: 0 });
  const states = (sessionId: string) => sim.sessions.get(sessionId)?.agent.channel.sessionStatesSent;
  for (const clientVersion of [NEW_CLIENT, OLD_CLIENT]) {
    const { start, client } = await forwardSession(t, sim, echoServer.port, clientVersion);
    client.flag(2);
    await client.closed;
    t.same(states(start.SessionId), ['Connected'], `${plugin<PortSession>(sim, start.SessionId).mode}: no Terminating`);
    t.equal(client.channelClosed()?.Output, '', 'the session still closes normally for the client');
  }
  const shell = await callTarget(sim.endpoint, 'AmazonSSM.StartSession', { Target: TARGET });
  const shellClient = await RawClient.open(shell.json.StreamUrl, shell.json.TokenValue, { sessionId: shell.json.SessionId, target: TARGET, endpoint: sim.endpoint });
  t.teardown(() => shellClient.close());
  shellClient.input('exit\r');
  await shellClient.closed;
  t.same(states(shell.json.SessionId), ['Connected', 'Terminating'], 'a shell that exits: Terminating (shell.go, executeCommandsWithPty)');
  const cancelled = await callTarget(sim.endpoint, 'AmazonSSM.StartSession', { Target: TARGET });
  const cancelledClient = await RawClient.open(cancelled.json.StreamUrl, cancelled.json.TokenValue, { sessionId: cancelled.json.SessionId, target: TARGET, endpoint: sim.endpoint });
  t.teardown(() => cancelledClient.close());
  await callTarget(sim.endpoint, 'AmazonSSM.TerminateSession', { SessionId: cancelled.json.SessionId });
  await cancelledClient.closed;
  t.same(states(cancelled.json.SessionId), ['Connected'], 'a cancelled shell: none');
  t.equal(cancelledClient.channelClosed()?.Output, '');
});

t.test('mux mode: the accept loop dials one stream at a time (port_mux.go, handleServerConnections)', async (t) => {
  const { sim, start, mux } = await muxEchoSession(t);
  const streams = Array.from({ length: 6 }, () => mux.openStream());
  const received = streams.map((stream) => collect(stream));
  streams.forEach((stream, index) => stream.write(Buffer.from(`stream-${index}`)));
  await until(() => received.every((r, index) => r.data().toString() === `stream-${index}`), 'every stream echoes');
  const session = plugin<MuxPortSession>(sim, start.SessionId);
  t.equal(session.dials, 6);
  t.equal(session.maxConcurrentDials, 1, 'never two dials at once');
});

t.test('mux mode: three concurrent streams to an echo server', async (t) => {
  const echoServer = await tcpServer(echo);
  t.teardown(() => echoServer.close());
  const sim = await withSim(t, { pacing: false });
  const { start, client } = await forwardSession(t, sim, echoServer.port);
  t.equal(plugin<PortSession>(sim, start.SessionId).mode, 'mux');
  t.equal(echoServer.connections.length, 0, 'mux mode dials per stream, not at session start');
  const mux = muxClient(client);
  t.teardown(() => mux.close());

  const streams = [0, 1, 2].map(() => {
    const stream = mux.openStream();
    const sent = randomBytes(200_000 + Math.floor(Math.random() * 1000));
    const received = collect(stream);
    stream.write(sent);
    return { stream, sent, received };
  });
  t.same(
    streams.map((s) => s.stream.id),
    [3, 5, 7],
  );
  for (const s of streams) {
    await until(() => s.received.length() >= s.sent.length, `stream ${s.stream.id} echoed`, 10_000);
    t.equal(sha256(s.received.data()), sha256(s.sent), `stream ${s.stream.id}: SHA-256 matches`);
  }
  t.equal(echoServer.connections.length, 3, 'one destination connection per stream');
  t.ok(client.outputs().every((o) => o.length <= 1024), 'smux bytes arrive in Output payloads of ≤1024 bytes');

  // Ending our side closes both: the agent FINs the stream and closes the connection.
  streams[0]!.stream.end();
  await streams[0]!.received.ended;
  await until(() => echoServer.connections[0]!.closed, 'destination connection closed');
  // The destination closing does the same.
  echoServer.connections[1]!.end();
  await streams[1]!.received.ended;
  t.notOk(echoServer.connections[2]!.closed, 'the third stream is untouched');
  streams[2]!.stream.write(Buffer.from('still here'));
  await until(() => streams[2]!.received.data().toString().endsWith('still here'), 'third stream works');
  t.same(flags(client), [], 'no flags in normal operation');
});

t.test('mux mode: ConnectToPortError while another stream keeps working', async (t) => {
  const { sim, start, client, mux, echoServer } = await muxEchoSession(t);

  const good = mux.openStream();
  const goodData = collect(good);
  good.write(Buffer.from('one'));
  await until(() => goodData.data().toString() === 'one', 'first stream works');
  // The destination stops listening; the established connection stays up.
  echoServer.server.close(); // (its callback waits for the open connections)
  await until(() => !echoServer.server.listening, 'listener closed');

  const bad = mux.openStream();
  const badData = collect(bad);
  bad.write(Buffer.from('nobody listens'));
  await badData.ended; // the agent FINs the stream it could not connect
  await until(() => flags(client).length === 1, 'flag frame');
  t.same(flags(client), [3], 'ConnectToPortError');
  const flag = client.payloads.find((p) => p.payloadType === 10)!;
  const raw = flag.bytes;
  t.equal(raw.toString('latin1', 4, 36).trim(), 'output_stream_data');
  t.equal(raw.readUInt32BE(0), 116, 'HeaderLength');
  t.ok(raw.readBigInt64BE(48) > 0n, 'a sequenced frame');
  t.equal(raw.readBigUInt64BE(56), 0n, 'Flags 0');
  t.equal(raw.readUInt32BE(112), 10, 'PayloadType Flag');
  t.equal(raw.readUInt32BE(116), 4, 'PayloadLength 4');
  t.same([...raw.subarray(120)], [0, 0, 0, 3], 'payload 00 00 00 03');
  t.equal(badData.length(), 0);

  good.write(Buffer.from('two'));
  await until(() => goodData.data().toString() === 'onetwo', 'the first stream keeps working');
  t.equal(client.channelClosed(), undefined);
  t.equal(plugin<MuxPortSession>(sim, start.SessionId).dialFailures, 1);
});

t.test('an agent at 3.0.196.0 uses basic mode even for a new client', async (t) => {
  const echoServer = await tcpServer(echo);
  t.teardown(() => echoServer.close());
  const sim = await withSim(t, { agentVersion: '3.0.196.0', pacing: false });
  const { start, client } = await forwardSession(t, sim, echoServer.port, NEW_CLIENT);
  t.equal(client.handshakeRequest?.AgentVersion, '3.0.196.0');
  t.equal(plugin<PortSession>(sim, start.SessionId).mode, 'basic');
  await until(() => echoServer.connections.length === 1, 'dialled at session start');
  // Raw bytes, not smux frames, are forwarded.
  client.sendData(Buffer.from('not smux'));
  await until(() => output(client).toString() === 'not smux', 'raw echo');
});

t.test('the TerminateSession flag ends the session', async (t) => {
  const echoServer = await tcpServer(echo);
  t.teardown(() => echoServer.close());
  const sim = await withSim(t, { pacing: false });
  for (const clientVersion of [NEW_CLIENT, OLD_CLIENT]) {
    const { start, client } = await forwardSession(t, sim, echoServer.port, clientVersion);
    const mode = plugin<PortSession>(sim, start.SessionId).mode;
    if (mode === 'mux') {
      const mux = muxClient(client);
      t.teardown(() => mux.close());
      const stream = mux.openStream();
      const data = collect(stream);
      stream.write(Buffer.from('x'));
      await until(() => data.length() === 1, 'stream works');
      client.flag(1); // ignored in mux mode
      stream.write(Buffer.from('y'));
      await until(() => data.length() === 2, 'DisconnectToPort is ignored in mux mode');
    }
    client.flag(2);
    await client.closed;
    t.equal(client.channelClosed()?.Output, '', `${mode}: a normal end`);
    t.equal(sim.sessions.get(start.SessionId)?.status, 'terminated');
    await until(() => echoServer.connections.every((c) => c.closed), 'destination connections closed');
  }
});

/** Time from the first to the last byte of 1 MiB sent by the destination. */
async function timeDownload(t: TestContext, pacing: boolean): Promise<number> {
  const size = 1024 * 1024;
  const blob = randomBytes(size);
  const source = await tcpServer((socket) => socket.end(blob));
  t.teardown(() => source.close());
  const sim = await withSim(t, { pacing });
  const start = await startSession(sim, 'AWS-StartPortForwardingSession', { portNumber: [String(source.port)] });
  const client = await openPort(sim, start, OLD_CLIENT);
  t.teardown(() => client.close());
  let first = 0;
  onOutput(client, () => {
    first ||= performance.now();
  });
  await until(() => outputBytes(client) >= size, '1 MiB downloaded', 15_000);
  const elapsed = performance.now() - first;
  t.equal(sha256(output(client)), sha256(blob), `pacing ${pacing}: data intact`);
  t.ok(client.outputs().every((o) => o.length <= 1024), 'chunks of at most 1024 bytes');
  t.ok(client.outputs().length >= 1024, 'at least 1024 frames');
  return elapsed;
}

t.test('pacing: 1 ms between 1024-byte reads, or none', async (t) => {
  const paced = await timeDownload(t, true);
  const unpaced = await timeDownload(t, false);
  t.comment(`1 MiB: ${paced.toFixed(0)} ms paced, ${unpaced.toFixed(0)} ms unpaced`);
  // 1024 reads with a sleep of at least 1 ms between them take over a second.
  t.ok(paced >= 900, `paced download takes about a second or more (${paced.toFixed(0)} ms)`);
  t.ok(unpaced < paced * 0.6, `unpaced is much faster (${unpaced.toFixed(0)} ms)`);
});

// ---------------------------------------------------------------------------------------
// Backpressure

/** A destination that writes a counted byte pattern as fast as it is allowed to. */
function firehose(): { handler: (socket: Socket) => void; written: () => number; blocked: () => boolean; stop: () => void } {
  let written = 0;
  let stopped = false;
  let blocked = false;
  const block = Buffer.alloc(64 * 1024);
  return {
    written: () => written,
    /** Waiting for 'drain': what it wrote is not being read. */
    blocked: () => blocked,
    stop: () => {
      stopped = true;
    },
    handler: (socket) => {
      const pump = (): void => {
        blocked = false;
        while (!stopped) {
          for (let i = 0; i < block.length; i++) block[i] = (written + i) % 251;
          written += block.length;
          if (!socket.write(Buffer.from(block))) {
            blocked = true;
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    },
  };
}

function checkPattern(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== i % 251) return false;
  return true;
}

t.test('backpressure: a client that stops reading stops the agent reading the destination (mux)', async (t) => {
  const hose = firehose();
  const source = await tcpServer(hose.handler);
  t.teardown(() => source.close());
  const limit = 1024 * 1024;
  const sim = await withSim(t, { pacing: false, clientBufferLimit: limit });
  const { start, client } = await forwardSession(t, sim, source.port);
  const mux = muxClient(client);
  t.teardown(() => mux.close());
  const stream = mux.openStream();
  const received = collect(stream);
  stream.write(Buffer.from('go'));
  await until(() => received.length() > 1024 * 1024, 'data flows');

  client.ws.pause(); // stop reading the WebSocket
  const session = sim.sessions.get(start.SessionId)!;
  await until(() => (session.client?.socket.bufferedAmount ?? 0) > limit, 'the gateway socket backs up', 10_000);
  // The agent stops reading the destination; once the socket buffers between them are
  // full, the destination's writes wait for 'drain'. The agent's retransmissions to the
  // client that does not read are the clock: no progress over two of them means held.
  const port = plugin<MuxPortSession>(sim, start.SessionId);
  await until(() => port.readingDestinations === 0, 'the agent stops reading the destination', 10_000);
  const twoRetransmissions = async (): Promise<void> => {
    const resends = session.agent.channel.stats.resends;
    await until(() => session.agent.channel.stats.resends >= resends + 2, 'two more agent retransmissions', 10_000);
  };
  const deadline = Date.now() + 20_000;
  for (let before = -1; hose.written() !== before || !hose.blocked(); ) {
    if (Date.now() > deadline) throw new Error('the destination never stopped');
    before = hose.written();
    await twoRetransmissions();
  }
  const heldAt = hose.written();
  await twoRetransmissions();
  t.equal(hose.written(), heldAt, `the destination is held back after ${heldAt} bytes`);
  t.equal(port.readingDestinations, 0, 'the agent reads no destination');
  t.comment(`held after ${heldAt} bytes; gateway buffered ${session.client?.socket.bufferedAmount}`);
  t.ok(heldAt < 64 * 1024 * 1024, 'bounded buffering on the way');
  t.ok(session.client!.socket.bufferedAmount < limit + 256 * 1024, 'the gateway stops near the limit');

  client.ws.resume();
  await until(() => hose.written() > heldAt + 4 * 1024 * 1024, 'flow resumes', 10_000);
  hose.stop();
  await received.ended; // the destination ended; the agent FINs the stream
  t.equal(received.length(), hose.written(), 'every byte arrived');
  t.ok(checkPattern(received.data()), 'in order and intact');
});

/** Hands `total` random bytes to `write` at once, in 64 KiB pieces; returns them. */
function upload(write: (chunk: Buffer) => void, total: number, chunk = 64 * 1024): Buffer {
  const data = randomBytes(total);
  for (let offset = 0; offset < total; offset += chunk) write(data.subarray(offset, offset + chunk));
  return data;
}

async function checkUploadBackpressure(t: TestContext, mode: 'basic' | 'mux'): Promise<void> {
  const sink = await tcpServer((socket) => socket.pause()); // accepts but does not read
  t.teardown(() => sink.close());
  const sim = await withSim(t, { pacing: false });
  const { start, client } = await forwardSession(t, sim, sink.port, mode === 'mux' ? NEW_CLIENT : OLD_CLIENT);
  const agent = sim.sessions.get(start.SessionId)!.agent;
  t.equal(plugin<PortSession>(sim, start.SessionId).mode, mode);
  let write: (chunk: Buffer) => void;
  let mux: SmuxSession | undefined;
  if (mode === 'mux') {
    mux = muxClient(client);
    t.teardown(() => mux!.close());
    const stream = mux.openStream();
    write = (chunk) => stream.write(chunk);
  } else {
    await until(() => sink.connections.length === 1, 'dialled');
    write = (chunk) => client.sendData(chunk);
  }
  const total = 12 * 1024 * 1024;
  const data = upload(write, total);
  await until(() => agent.channel.inputHeld, 'the agent holds input', 10_000);
  const acked = agent.channel.expectedInSeq;
  // The client keeps retransmitting what is unacked; none of it may be taken meanwhile.
  const resends = client.resends;
  await until(() => client.resends >= resends + 2, 'two more client retransmissions', 10_000);
  t.ok(agent.channel.inputHeld, 'still held while the destination does not read');
  t.equal(agent.channel.expectedInSeq, acked, 'no further input is taken');
  t.ok(client.unacked.size > 1000, `the client's frames stay unacked (${client.unacked.size})`);
  if (mode === 'mux') {
    const buffered = plugin<MuxPortSession>(sim, start.SessionId).smux.totalReceiveBuffered;
    t.ok(buffered >= 4 * 1024 * 1024, `the smux server stopped at its 4 MiB receive buffer (${buffered})`);
    t.ok(buffered < 5 * 1024 * 1024, 'and not much beyond it');
  } else {
    t.ok(acked * 1024 < total / 2, `the agent stopped early (${acked} frames taken)`);
  }

  const destination = sink.connections[0]!;
  const chunks: Buffer[] = [];
  let got = 0;
  destination.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    got += chunk.length;
  });
  destination.resume();
  await until(() => got >= total, 'everything reaches the destination', 20_000);
  t.equal(sha256(Buffer.concat(chunks)), sha256(data), 'intact and in order');
  await until(() => client.unacked.size === 0, 'everything acked');
  t.notOk(agent.channel.inputHeld);
}

t.test('backpressure: a destination that does not read holds client input (basic)', async (t) => {
  await checkUploadBackpressure(t, 'basic');
});

t.test('backpressure: a destination that does not read holds client input (mux)', async (t) => {
  await checkUploadBackpressure(t, 'mux');
});
