import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { WebSocketServer } from 'ws';
import { connectWebSocket, ConnectError } from '../src/transport/websocket-transport.ts';
import { proxyFor } from '../src/transport/proxy-agent.ts';

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
