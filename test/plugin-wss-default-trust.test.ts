// The built plugin opens a wss:// data channel with Node's default trust (no AWS_CA_BUNDLE; the
// server's CA in NODE_EXTRA_CA_CERTS), the path on which it starts loading the root store before
// the session's modules evaluate (src/cli/run-plugin.ts), and sends OpenDataChannel over it.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { throwawayTls } from '../src/simulator/tls.ts';

const binary = path.resolve(import.meta.dirname, '..', 'dist', 'session-manager-plugin');

t.test('wss:// with NODE_EXTRA_CA_CERTS and no AWS_CA_BUNDLE: OpenDataChannel arrives with the token', { skip: existsSync(binary) ? false : 'run `npm run build` first' }, async (t) => {
  const tls = throwawayTls();
  const server = https.createServer({ key: tls.key, cert: tls.cert });
  const wss = new WebSocketServer({ server });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    wss.close();
    server.close();
  });
  const { port } = server.address() as { port: number };
  const url = `wss://127.0.0.1:${port}/v1/data-channel/sess-1?role=publish_subscribe`;
  const firstText = new Promise<string>((resolve) => wss.once('connection', (ws) => ws.once('message', (data) => resolve(String(data)))));

  const { AWS_CA_BUNDLE: _dropped, ...env } = process.env;
  const child = spawn(binary, [JSON.stringify({ SessionId: 'sess-1', TokenValue: 'token-1', StreamUrl: url }), 'us-east-1', 'StartSession', '', '{"Target":"i-0"}', 'http://127.0.0.1:9'], {
    env: { ...env, NODE_EXTRA_CA_CERTS: tls.caFile, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true' },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await exited;
  });

  const open = JSON.parse(await firstText) as Record<string, unknown>;
  t.equal(open.TokenValue, 'token-1', 'the session token, over a TLS connection that trusted the server');
  t.equal(open.MessageSchemaVersion, '1.0');
});
