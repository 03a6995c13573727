import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { connectWebSocket, ConnectError, maskingIsMoot, UNWRITTEN_ACK_LIMIT } from '../src/transport/websocket-transport.ts';
import { proxyFor } from '../src/net/proxy-env.ts';
import { waitFor } from './helpers/wait.ts';

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

function dataChannelServer() {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  const firstMessages: Array<{ text: string; binary: boolean }> = [];
  wss.on('connection', (ws) => {
    ws.once('message', (data, isBinary) => {
      firstMessages.push({ text: data.toString(), binary: isBinary });
      ws.send(Buffer.from('frame-from-server'));
    });
  });
  return { server, wss, firstMessages };
}

t.test('opens the data channel and sends OpenDataChannel as text first', async (t) => {
  const { server, wss, firstMessages } = dataChannelServer();
  const port = await listen(server);
  const transport = await connectWebSocket(`ws://127.0.0.1:${port}/v1/data-channel/s?role=publish_subscribe`, {
    openDataChannel: '{"MessageSchemaVersion":"1.0"}',
    env: {},
  });
  const frame = await new Promise<Buffer>((resolve) => transport.once('frame', resolve));
  t.equal(frame.toString(), 'frame-from-server');
  t.same(firstMessages, [{ text: '{"MessageSchemaVersion":"1.0"}', binary: false }]);
  transport.close();
  wss.close();
  server.close();
});

t.test('goes through an HTTP CONNECT proxy from HTTP_PROXY, honouring NO_PROXY', async (t) => {
  const { server, wss, firstMessages } = dataChannelServer();
  const port = await listen(server);
  const tunnels: string[] = [];
  const proxy = http.createServer();
  proxy.on('connect', (req, client, head) => {
    tunnels.push(req.url ?? '');
    const [host, targetPort] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(targetPort), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
  });
  const proxyPort = await listen(proxy);
  const env = { HTTP_PROXY: `http://127.0.0.1:${proxyPort}` };
  const transport = await connectWebSocket(`ws://127.0.0.1:${port}/x`, { openDataChannel: '{}', env });
  await new Promise((resolve) => transport.once('frame', resolve));
  t.same(tunnels, [`127.0.0.1:${port}`]);
  t.equal(firstMessages.length, 1);
  transport.close();

  t.equal(proxyFor(new URL('ws://127.0.0.1:1/'), { ...env, NO_PROXY: '127.0.0.1' }), undefined);
  t.equal(proxyFor(new URL('wss://ssmmessages.us-east-1.amazonaws.com/'), { HTTPS_PROXY: 'proxy:3128', NO_PROXY: '.amazonaws.com' }), undefined);
  t.equal(proxyFor(new URL('wss://ssmmessages.us-east-1.amazonaws.com/'), { HTTPS_PROXY: 'proxy:3128' })?.host, 'proxy:3128');
  t.equal(proxyFor(new URL('wss://x/'), { HTTP_PROXY: 'proxy:3128' }), undefined, 'wss uses HTTPS_PROXY only');
  wss.close();
  server.close();
  proxy.close();
});

t.test('connection refused and bad URLs are ConnectErrors', async (t) => {
  const server = net.createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  server.close();
  await t.rejects(connectWebSocket(`ws://127.0.0.1:${port}/`, { openDataChannel: '{}', env: {} }), ConnectError);
  await t.rejects(connectWebSocket('https://example.invalid/', { openDataChannel: '{}', env: {} }), /ws:\/\/ or wss:\/\//);
  await t.rejects(connectWebSocket('not a url', { openDataChannel: '{}', env: {} }), /not a valid URL/);
});

t.test('client frames are masked unless the connection is TLS or loopback without a proxy', async (t) => {
  const proxy = new URL('http://127.0.0.1:3128');
  const cases: Array<[string, URL | undefined, boolean]> = [
    ['wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/s', undefined, true],
    ['wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/s', proxy, true],
    ['ws://127.0.0.1:8080/v1/data-channel/s', undefined, true],
    ['ws://127.5.6.7:8080/', undefined, true],
    ['ws://localhost:8080/', undefined, true],
    ['ws://[::1]:8080/', undefined, true],
    ['ws://127.0.0.1:8080/', proxy, false],
    ['ws://10.0.0.1:8080/', undefined, false],
    ['ws://gateway.example/', undefined, false],
    ['ws://127.0.0.1.example/', undefined, false],
  ];
  for (const [url, via, moot] of cases) t.equal(maskingIsMoot(new URL(url), via), moot, `${url}${via ? ' via proxy' : ''}`);
});

t.test('on loopback the masking key on the wire is zero (the server still unmasks correctly)', async (t) => {
  // A hand-rolled upgrade so the raw client frame, mask key included, can be read.
  let accepted: net.Socket | undefined;
  const server = net.createServer((socket) => {
    accepted = socket;
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const key = /sec-websocket-key: (.+)\r\n/i.exec(head.toString('latin1'))![1]!.trim();
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      let frames = head.subarray(end + 4);
      const onFrame = (more: Buffer) => {
        frames = Buffer.concat([frames, more]);
        if (frames.length < 6) return;
        socket.off('data', onFrame);
        firstFrame(frames);
      };
      socket.on('data', onFrame);
      onFrame(Buffer.alloc(0));
    };
    socket.on('data', onData);
  });
  let firstFrame: (bytes: Buffer) => void = () => {};
  const seen = new Promise<Buffer>((resolve) => (firstFrame = resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const transport = await connectWebSocket(`ws://127.0.0.1:${port}/v1/data-channel/s`, { openDataChannel: 'open', env: {} });
  const frame = await seen;
  t.equal(frame[1]! & 0x80, 0x80, 'the MASK bit is set, as the RFC requires of clients');
  t.equal(frame.subarray(2, 6).toString('hex'), '00000000', 'with a zero key');
  t.equal(frame.subarray(6, 10).toString(), 'open', 'so the payload is on the wire as is');
  transport.close();
  // This server never answers the close frame: without this, ws would keep the socket for
  // its 30 s close timeout, and the test process with it.
  accepted?.destroy();
  server.close();
});

t.test('a service that reads us slower than it sends: reading stops while our acks wait to be written, nothing is lost', async (t) => {
  // The official client's read loop blocks in each ack's write (session-manager-plugin
  // src/datachannel/streaming.go HandleOutputMessage → SendAcknowledgeMessage, called from
  // the reader goroutine of src/communicator/websocketchannel.go); ours stops reading once
  // more than UNWRITTEN_ACK_LIMIT of acks wait to be written, so its send queue stays bounded.
  const FRAMES = 20_000;
  const SIZE = 1024;
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  const port = await listen(server);
  const replies = createHash('sha256');
  let repliesReceived = 0;
  let serverSide: import('ws').WebSocket | undefined;
  const allReplies = new Promise<void>((resolve) => {
    wss.on('connection', (ws) => {
      serverSide = ws;
      ws.once('message', () => {
        ws.pause(); // the service stops reading us
        ws.on('message', (data: Buffer) => {
          replies.update(data);
          if (++repliesReceived === FRAMES) resolve();
        });
        for (let i = 0; i < FRAMES; i++) ws.send(Buffer.alloc(SIZE, i & 0xff));
      });
    });
  });
  const transport = await connectWebSocket(`ws://127.0.0.1:${port}/x`, { openDataChannel: '{}', env: {} });
  const expectedReplies = createHash('sha256');
  const frames = createHash('sha256');
  let framesReceived = 0;
  let largestQueue = 0;
  let stoppedReading = false;
  let overflowed = false;
  transport.on('frame', (frame: Buffer) => {
    frames.update(frame);
    framesReceived++;
    const reply = Buffer.alloc(SIZE, (framesReceived * 7) & 0xff);
    expectedReplies.update(reply);
    transport.sendAcknowledgement(reply);
    largestQueue = Math.max(largestQueue, transport.bufferedAmount);
    if (transport.waitingForAcks) stoppedReading = true;
    // Without the limit the queue only grows: end the wait so the assertions say so.
    if (transport.bufferedAmount > 4 * UNWRITTEN_ACK_LIMIT) overflowed = true;
  });
  await waitFor(() => stoppedReading || overflowed, { what: 'the client to stop reading or its queue to grow', timeoutMs: 30_000 });
  t.ok(stoppedReading, 'the client stopped reading');
  t.ok(largestQueue <= UNWRITTEN_ACK_LIMIT + 128 * 1024, `its queue stayed bounded (largest ${largestQueue} B)`);
  serverSide!.resume(); // the service reads again
  await allReplies;
  await waitFor(() => framesReceived === FRAMES, { what: 'every frame to arrive', timeoutMs: 30_000 });
  const sent = createHash('sha256');
  for (let i = 0; i < FRAMES; i++) sent.update(Buffer.alloc(SIZE, i & 0xff));
  t.equal(frames.digest('hex'), sent.digest('hex'), `all ${FRAMES} frames arrived, in order`);
  t.equal(replies.digest('hex'), expectedReplies.digest('hex'), `all ${FRAMES} replies arrived, in order`);
  t.notOk(transport.waitingForAcks, 'reading again once the replies are out');
  transport.close();
  wss.close();
  server.close();
});

t.test('data sent while handling a frame does not stop reading (the window bounds it, not the ack limit)', async (t) => {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  const port = await listen(server);
  wss.on('connection', (ws) => {
    t.teardown(() => ws.terminate());
    ws.once('message', () => {
      ws.pause(); // takes nothing from us
      ws.send(Buffer.from('go'));
    });
  });
  const transport = await connectWebSocket(`ws://127.0.0.1:${port}/x`, { openDataChannel: '{}', env: {} });
  const handled = new Promise<void>((resolve) =>
    transport.once('frame', () => {
      for (let i = 0; i < 4 * UNWRITTEN_ACK_LIMIT / 1024; i++) transport.send(Buffer.alloc(1024));
      resolve();
    }),
  );
  await handled;
  t.ok(transport.bufferedAmount > UNWRITTEN_ACK_LIMIT, `more than the ack limit is queued (${transport.bufferedAmount} B)`);
  t.notOk(transport.waitingForAcks, 'reading goes on');
  transport.close();
  wss.close();
  server.close();
});
