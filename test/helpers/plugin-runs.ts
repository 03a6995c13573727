// Running the built plugin against the simulator for resilience and secrets tests: a
// StartSession through the real SDK, the plugin started through the AWS CLI's
// environment-variable contract, a destination server for port transfers, and
// measurements (API calls, RSS).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Simulator } from '../../src/simulator/index.ts';
import type { Sandbox } from './aws-cli-sandbox.ts';
import { PLUGIN_BINARY, REGION } from './aws-cli-sandbox.ts';
import { start, type Running, type RunResult } from './processes.ts';
import { ENV_NAME, TARGET, type StartResponse } from './port-session.ts';
import { printable, waitFor } from './wait.ts';

export { sdkStartSession, TARGET, type StartResponse } from './port-session.ts';
/** The variable the AWS CLI v1 uses to hand the StartSession response to the plugin. */
export const RESPONSE_ENV = ENV_NAME;

export interface PluginRunOptions {
  /** Extra environment (e.g. SESSION_MANAGER_PLUGIN_LOG, SESSION_MANAGER_PLUGIN_LIVENESS_MS). */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed; undefined keeps stdin open. */
  input?: string | Buffer;
  timeoutMs: number;
  target?: string;
  /** argv[6], the SSM endpoint for ResumeSession/TerminateSession (default: the simulator). */
  endpoint?: string;
}

/**
 * The built binary, started as `aws ssm start-session` starts it: the response in an
 * environment variable named by argv[1], the endpoint in argv[6].
 */
export function startPlugin(sim: Simulator, sandbox: Sandbox, response: StartResponse, options: PluginRunOptions): Running {
  const args = [RESPONSE_ENV, REGION, 'StartSession', '', JSON.stringify({ Target: options.target ?? TARGET }), options.endpoint ?? sim.endpoint];
  const env = sandbox.env({ ...(options.env ?? {}), [RESPONSE_ENV]: JSON.stringify(response) });
  return start(PLUGIN_BINARY, args, { env, input: options.input, timeoutMs: options.timeoutMs });
}

export function describeRun(result: RunResult, max = 3000): string {
  return (
    `exit ${result.code} signal ${result.signal} after ${result.durationMs} ms${result.timedOut ? ' (KILLED AT DEADLINE)' : ''}\n` +
    `--- stdout ---\n${printable(result.stdout.toString('utf8'), max)}\n--- stderr ---\n${printable(result.stderr.toString('utf8'), max)}`
  );
}

/** API calls of one operation for one session, in order. */
export function apiCallsFor(sim: Simulator, operation: string, sessionId: string) {
  return sim.apiCalls.filter(
    (c) => c.operation === operation && (c.body as { SessionId?: unknown } | undefined)?.SessionId === sessionId,
  );
}

/** Resident set size of a live process in KiB (VmRSS), or undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for the port session's "Port N opened" notice (stdout) and returns N. */
export async function waitForLocalPort(run: Running, timeoutMs = 20_000): Promise<number> {
  const match = await waitFor(() => /Port (\d+) opened for sessionId/.exec(run.stdout().toString('utf8')), {
    what: 'the "Port N opened" notice',
    timeoutMs,
    context: () => `${printable(run.stdout().toString())}\n--- stderr ---\n${printable(run.stderr().toString())}`,
    abort: () => (run.exited() ? 'the plugin exited' : undefined),
  });
  return Number(match[1]);
}

/**
 * A destination for port-forwarding transfers. Per connection, the client first sends a
 * 16-byte header (upload length, download length; 64-bit BE each). The server then, at
 * the same time, sends `download length` bytes of its own (a fixed random buffer) and
 * hashes the upload; once the upload is complete and the download sent, it sends the
 * upload's SHA-256 (32 bytes). Both directions are busy at once, and nothing relies on
 * half-close (the agent closes both ways when either side ends, §7.3).
 */
export interface TransferServer {
  readonly port: number;
  /** What the server sends for a download of `length` bytes (a prefix of one buffer). */
  downloadBytes(length: number): Buffer;
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTransferServer(maxDownload: number): Promise<TransferServer> {
  const download = randomBytes(maxDownload);
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let header = Buffer.alloc(0);
    let uploadLeft = -1;
    let downloadSent = false;
    let uploadDone = false;
    const hash = createHash('sha256');
    const finish = () => {
      if (uploadDone && downloadSent) socket.write(hash.digest());
    };
    socket.on('data', (chunk: Buffer) => {
      if (uploadLeft < 0) {
        header = Buffer.concat([header, chunk]);
        if (header.length < 16) return;
        uploadLeft = Number(header.readBigUInt64BE(0));
        const downloadLength = Number(header.readBigUInt64BE(8));
        chunk = header.subarray(16);
        void sendAll(socket, download.subarray(0, Math.min(downloadLength, download.length))).then(() => {
          downloadSent = true;
          finish();
        });
      }
      if (chunk.length > uploadLeft) {
        socket.destroy(new Error('more upload than announced'));
        return;
      }
      hash.update(chunk);
      uploadLeft -= chunk.length;
      if (uploadLeft === 0 && !uploadDone) {
        uploadDone = true;
        finish();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    downloadBytes: (length) => download.subarray(0, length),
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes in 256 KiB slices, honouring backpressure. */
async function sendAll(socket: Socket, data: Buffer): Promise<void> {
  const slice = 256 * 1024;
  for (let offset = 0; offset < data.length; offset += slice) {
    if (socket.destroyed) return;
    if (!socket.write(data.subarray(offset, offset + slice))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
  }
}

export interface TransferResult {
  /** SHA-256 of the upload as the destination computed it. */
  uploadDigestAtDestination: string;
  /** SHA-256 of the download as received locally. */
  downloadDigest: string;
  downloadLength: number;
  durationMs: number;
}

export interface TransferProgress {
  uploaded: number;
  downloaded: number;
}

/**
 * One transfer through the plugin's local port: sends `upload` while receiving
 * `downloadLength` bytes and then the destination's digest of the upload.
 * `progress` is updated as bytes move, so a test can schedule faults at chosen points.
 */
export function runTransfer(
  localPort: number,
  upload: Buffer,
  downloadLength: number,
  progress: TransferProgress = { uploaded: 0, downloaded: 0 },
): Promise<TransferResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: localPort, noDelay: true });
    const hash = createHash('sha256');
    let received = 0;
    let tail = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`local connection closed after ${received} of ${downloadLength + 32} bytes`)));
    socket.on('data', (chunk: Buffer) => {
      const wanted = downloadLength - received;
      if (wanted > 0) {
        const body = chunk.subarray(0, wanted);
        hash.update(body);
        received += body.length;
        progress.downloaded = received;
        chunk = chunk.subarray(body.length);
      }
      if (chunk.length === 0) return;
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > 32) {
        socket.destroy();
        reject(new Error(`${tail.length - 32} unexpected bytes after the digest`));
        return;
      }
      if (tail.length === 32) {
        socket.removeAllListeners('close');
        socket.end();
        resolve({
          uploadDigestAtDestination: tail.toString('hex'),
          downloadDigest: hash.digest('hex'),
          downloadLength: received,
          durationMs: performance.now() - started,
        });
      }
    });
    socket.once('connect', async () => {
      const header = Buffer.alloc(16);
      header.writeBigUInt64BE(BigInt(upload.length), 0);
      header.writeBigUInt64BE(BigInt(downloadLength), 8);
      socket.write(header);
      const slice = 64 * 1024;
      for (let offset = 0; offset < upload.length; offset += slice) {
        if (socket.destroyed) return;
        const part = upload.subarray(offset, offset + slice);
        const more = socket.write(part);
        progress.uploaded = offset + part.length;
        if (!more) await new Promise((r) => socket.once('drain', r));
      }
    });
  });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
