// Traffic for port-forwarding tests and benchmarks: a destination server on 127.0.0.1
// and a client that push known, deterministic bytes both ways through a forwarded port
// and compare SHA-256 digests at both ends.
//
// Wire convention between the client and the destination (the plugin and the agent carry
// it blindly): the client sends a 16-byte header
//   seed u32 LE | upload length u32 LE | download length u32 LE | reserved u32
// then `upload length` bytes. The destination answers with `download length` bytes and,
// once it has received the whole upload, a 32-byte SHA-256 of what it received. The
// client closes after reading download + 32 bytes, so no half-close is needed (mux mode
// does not preserve it, PROTOCOL.md §7.3.4).
import { createCipheriv, createHash } from 'node:crypto';
import net from 'node:net';

export const HEADER_BYTES = 16;
export const DIGEST_BYTES = 32;
const GENERATOR_CHUNK = 64 * 1024;

/**
 * Deterministic pseudo-random bytes (AES-128-CTR keystream keyed by seed and direction),
 * fast enough to be no part of what is measured. Contains every byte value, \r and \n
 * included, so any rewriting shows up in the digest.
 */
export class ByteGenerator {
  private readonly cipher;
  private readonly zeros = Buffer.alloc(GENERATOR_CHUNK);
  remaining: number;

  constructor(seed: number, direction: 'up' | 'down', length: number) {
    const key = Buffer.alloc(16);
    key.writeUInt32LE(seed >>> 0, 0);
    key.write(direction, 4, 'latin1');
    this.cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    this.remaining = length;
  }

  /** The next chunk (at most 64 KiB), or undefined at the end. */
  next(): Buffer | undefined {
    if (this.remaining <= 0) return undefined;
    const n = Math.min(GENERATOR_CHUNK, this.remaining);
    this.remaining -= n;
    return this.cipher.update(n === GENERATOR_CHUNK ? this.zeros : this.zeros.subarray(0, n));
  }
}

/** SHA-256 (hex) of what a ByteGenerator produces, without transferring it. */
export function expectedDigest(seed: number, direction: 'up' | 'down', length: number): string {
  const hash = createHash('sha256');
  const gen = new ByteGenerator(seed, direction, length);
  for (let chunk = gen.next(); chunk; chunk = gen.next()) hash.update(chunk);
  return hash.digest('hex');
}

/** Writes everything a generator produces, honouring backpressure; resolves when all is queued. */
export function writeAll(
  socket: net.Socket,
  gen: ByteGenerator,
  hash?: ReturnType<typeof createHash>,
  progress?: (sent: number, blocked: boolean) => void,
): Promise<void> {
  let sent = 0;
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    const pump = (): void => {
      for (;;) {
        if (socket.destroyed) return reject(new Error('socket closed before the upload was written'));
        const chunk = gen.next();
        if (!chunk) {
          socket.off('error', onError);
          return resolve();
        }
        hash?.update(chunk);
        sent += chunk.length;
        if (!socket.write(chunk)) {
          progress?.(sent, true);
          socket.once('drain', pump);
          return;
        }
        progress?.(sent, false);
      }
    };
    pump();
  });
}

export interface DestinationRecord {
  seed: number;
  /** Bytes of upload received (after the header). */
  uploadReceived: number;
  /** SHA-256 of the upload as received, once complete. */
  uploadDigest?: string;
  /** SHA-256 of the download as sent. */
  downloadDigest?: string;
  /** Download bytes handed to the socket so far. */
  downloadSent: number;
  /** True while the last write of the download waits for 'drain' (the far side is not reading). */
  downloadBlocked: boolean;
  /** performance.now() of the last download write. */
  lastWriteAt: number;
  /** Set when the connection ended early or carried too many bytes. */
  error?: string;
  closed: boolean;
}

export interface Destination {
  readonly server: net.Server;
  readonly port: number;
  /** One record per connection, in accept order. */
  readonly records: DestinationRecord[];
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Stops listening (new connections are refused), keeping existing ones. */
  stopListening(): Promise<void>;
  /** Listens again on the same port. */
  listenAgain(): Promise<void>;
  close(): Promise<void>;
}

/** The test's destination service on 127.0.0.1 (what the agent dials). */
export async function startDestination(port = 0): Promise<Destination> {
  const records: DestinationRecord[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const listen = (p: number) =>
    new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, (socket) => {
        accepted++;
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        serveConnection(socket, records);
      });
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  let server = await listen(port);
  const actual = (server.address() as net.AddressInfo).port;
  return {
    get server() {
      return server;
    },
    port: actual,
    records,
    get accepted() {
      return accepted;
    },
    // server.close() stops accepting at once but calls back only when every connection
    // has ended, so wait for the port itself to refuse instead.
    stopListening: async () => {
      server.close();
      const deadline = Date.now() + 5000;
      while ((await probe(actual)) !== 'ECONNREFUSED') {
        if (Date.now() > deadline) throw new Error(`port ${actual} still accepts connections`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    listenAgain: async () => {
      server = await listen(actual);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connects to 127.0.0.1:port once: undefined when accepted, else the error code. */
function probe(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function serveConnection(socket: net.Socket, records: DestinationRecord[]): void {
  socket.on('error', () => undefined);
  let header: Buffer = Buffer.alloc(0);
  let record: DestinationRecord | undefined;
  let uploadHash: ReturnType<typeof createHash> | undefined;
  let uploadLength = 0;
  let downloadWritten: Promise<void> | undefined;
  const onUploadDone = async (): Promise<void> => {
    const digest = uploadHash!.digest('hex');
    record!.uploadDigest = digest;
    await downloadWritten;
    if (!socket.destroyed) socket.write(Buffer.from(digest, 'hex'));
  };
  socket.on('data', (data: Buffer) => {
    if (!record) {
      header = Buffer.concat([header, data]);
      if (header.length < HEADER_BYTES) return;
      const seed = header.readUInt32LE(0);
      uploadLength = header.readUInt32LE(4);
      const downloadLength = header.readUInt32LE(8);
      record = { seed, uploadReceived: 0, downloadSent: 0, downloadBlocked: false, lastWriteAt: performance.now(), closed: false };
      records.push(record);
      uploadHash = createHash('sha256');
      const downHash = createHash('sha256');
      const current = record;
      const progress = (sent: number, blocked: boolean): void => {
        current.downloadSent = sent;
        current.downloadBlocked = blocked;
        current.lastWriteAt = performance.now();
      };
      downloadWritten = writeAll(socket, new ByteGenerator(seed, 'down', downloadLength), downHash, progress).then(
        () => {
          current.downloadBlocked = false;
          current.downloadDigest = downHash.digest('hex');
        },
        (err: Error) => {
          current.error ??= `download: ${err.message}`;
        },
      );
      data = header.subarray(HEADER_BYTES);
      if (uploadLength === 0) void onUploadDone();
    }
    if (data.length === 0) return;
    const room = uploadLength - record.uploadReceived;
    if (data.length > room) {
      record.error ??= `received ${data.length - room} bytes more than the announced upload`;
      data = data.subarray(0, room);
    }
    if (data.length === 0) return;
    uploadHash!.update(data);
    record.uploadReceived += data.length;
    if (record.uploadReceived === uploadLength) void onUploadDone();
  });
  socket.once('close', () => {
    if (!record) return;
    record.closed = true;
    if (record.uploadReceived < uploadLength) record.error ??= `closed after ${record.uploadReceived} of ${uploadLength} upload bytes`;
  });
}

export interface TransferOptions {
  seed: number;
  upload: number;
  download: number;
  /** Stop reading after this many download bytes, until resume() is called. */
  pauseAfter?: number;
  /** Read at most this many bytes per second (a slow local reader). */
  readBytesPerSecond?: number;
  /** Fail the transfer if it takes longer. */
  timeoutMs?: number;
}

export interface TransferResult {
  uploadDigest: string;
  downloadDigest: string;
  /** The destination's SHA-256 of the upload, sent in-band after the download. */
  echoedUploadDigest: string;
  downloadReceived: number;
  /** Bytes the socket delivered beyond download + digest (should be 0). */
  extraBytes: number;
  ms: number;
  /** From connecting to the first downloaded byte. */
  firstByteMs: number;
}

export interface Transfer {
  readonly socket: net.Socket;
  /** Download bytes read so far. */
  readonly received: number;
  /** True while reading is held by pauseAfter. */
  readonly paused: boolean;
  resume(): void;
  readonly done: Promise<TransferResult>;
}

export type Endpoint = { port: number } | { path: string };

/**
 * Connects to the forwarded endpoint, writes the header and the upload while reading the
 * download and the destination's digest, then closes. Rejects if the connection closes
 * early or the deadline passes.
 */
export function transfer(endpoint: Endpoint, options: TransferOptions): Transfer {
  const started = performance.now();
  const socket =
    'path' in endpoint ? net.connect({ path: endpoint.path }) : net.connect({ port: endpoint.port, host: '127.0.0.1', noDelay: true });
  const downHash = createHash('sha256');
  const upHash = createHash('sha256');
  const trailer: Buffer[] = [];
  let trailerBytes = 0;
  let received = 0;
  let extra = 0;
  let paused = false;
  let resumeRequested = false;
  const expected = options.download;
  const state = {
    get socket() {
      return socket;
    },
    get received() {
      return received;
    },
    get paused() {
      return paused;
    },
    resume() {
      resumeRequested = true;
      if (paused) {
        paused = false;
        socket.resume();
      }
    },
  } as Transfer;
  const done = new Promise<TransferResult>((resolve, reject) => {
    let finished = false;
    const timer = setTimeout(
      () => fail(new Error(`transfer seed ${options.seed} timed out after ${options.timeoutMs} ms (${received}/${expected} down)`)),
      options.timeoutMs ?? 60_000,
    );
    const fail = (err: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    let throttleStart = 0;
    let throttleBytes = 0;
    let firstByteAt = 0;
    const onData = (data: Buffer): void => {
      if (firstByteAt === 0) firstByteAt = performance.now();
      const wanted = expected - received;
      const take = Math.min(wanted, data.length);
      if (take > 0) {
        downHash.update(data.subarray(0, take));
        received += take;
      }
      let rest = data.subarray(take);
      if (rest.length > 0) {
        const need = DIGEST_BYTES - trailerBytes;
        const digestPart = rest.subarray(0, need);
        trailer.push(digestPart);
        trailerBytes += digestPart.length;
        extra += rest.length - digestPart.length;
      }
      if (received === expected && trailerBytes === DIGEST_BYTES && !finished) {
        finished = true;
        clearTimeout(timer);
        socket.end();
        socket.destroy();
        resolve({
          uploadDigest: upHash.digest('hex'),
          downloadDigest: downHash.digest('hex'),
          echoedUploadDigest: Buffer.concat(trailer).toString('hex'),
          downloadReceived: received,
          extraBytes: extra,
          ms: performance.now() - started,
          firstByteMs: firstByteAt - started,
        });
        return;
      }
      if (options.pauseAfter !== undefined && !resumeRequested && !paused && received >= options.pauseAfter) {
        paused = true;
        socket.pause();
      }
      if (options.readBytesPerSecond) {
        if (throttleStart === 0) throttleStart = performance.now();
        throttleBytes += data.length;
        const aheadMs = (throttleBytes / options.readBytesPerSecond) * 1000 - (performance.now() - throttleStart);
        if (aheadMs > 1) {
          socket.pause();
          setTimeout(() => {
            if (!paused) socket.resume();
          }, aheadMs);
        }
      }
    };
    socket.on('data', onData);
    socket.once('error', (err) => fail(err));
    socket.once('close', () =>
      fail(new Error(`connection closed early: ${received}/${expected} download bytes, ${trailerBytes}/32 digest bytes`)),
    );
    socket.once('connect', () => {
      const header = Buffer.alloc(HEADER_BYTES);
      header.writeUInt32LE(options.seed >>> 0, 0);
      header.writeUInt32LE(options.upload, 4);
      header.writeUInt32LE(options.download, 8);
      socket.write(header);
      writeAll(socket, new ByteGenerator(options.seed, 'up', options.upload), upHash).catch((err: Error) => fail(err));
    });
  });
  done.catch(() => undefined);
  Object.defineProperty(state, 'done', { value: done });
  return state;
}
