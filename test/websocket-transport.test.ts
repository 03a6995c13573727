import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { connectWebSocket, ConnectError, maskingIsMoot } from '../src/transport/websocket-transport.ts';
import { proxyFor } from '../src/net/proxy-env.ts';

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
