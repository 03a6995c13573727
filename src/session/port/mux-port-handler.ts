import type net from 'node:net';
import { FlagCode, PayloadType, STREAM_CHUNK_SIZE } from '../../protocol/constants.ts';
import { decodeFlag } from '../../protocol/payloads.ts';
import { MAX_FRAME_SIZE } from '../../smux/frame.ts';
import { SmuxSession } from '../../smux/session.ts';
import type { SmuxStream } from '../../smux/stream.ts';
import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { listenLocal, listenSpecFrom, type LocalListener } from './local-listener.ts';
import { IncomingGate } from '../incoming-gate.ts';
import { isTerminateSignal, MUX_RECEIVE_LIMIT } from './port-limits.ts';
import { BufferPool } from './buffer-pool.ts';

export interface MuxOptions {
  /** smux keep-alive (NOP every 10 s, dead after 30 s), only for old agents (§7.3.2). */
  keepAlive: boolean;
}

/**
 * Multiplexed port forwarding (§7.3.4): an in-process smux v1 client whose byte stream
 * travels in Output payloads, one smux stream per local connection.
 *
 * Backpressure: upload, each local socket is paused while its stream cannot write
 * (the channel window is full). Download, smux v1 has no per-stream flow control, so a
 * stream whose local reader is slow buffers here; once the streams together hold
 * MUX_RECEIVE_LIMIT, the channel stops reading the connection until they drain.
 */
export class MuxPortHandler implements SessionHandler {
  private readonly context: HandlerContext;
  private readonly smux: SmuxSession;
  private readonly gate: IncomingGate;
  /** Received PSH data is copied into these, and they return once written locally. */
  private readonly pool = new BufferPool(MAX_FRAME_SIZE, Math.ceil(MUX_RECEIVE_LIMIT / MAX_FRAME_SIZE) + 16);
  private readonly connections = new Set<net.Socket>();
  private listener: LocalListener | undefined;
  private announcedAccept = false;
  private stopped = false;

  constructor(context: HandlerContext, options: MuxOptions) {
    this.context = context;
    this.smux = new SmuxSession({
      role: 'client',
      write: (bytes) => this.sendCarrier(bytes),
      carrierCopies: true, // channel.send() encodes (copies) each payload into its frame at once
      keepAlive: options.keepAlive ? { intervalMs: 10_000, timeoutMs: 30_000 } : false,
      receiveBufferLimit: MUX_RECEIVE_LIMIT,
      allocate: (size) => this.pool.allocate(size),
    });
    this.gate = new IncomingGate(context.channel);
    this.smux.on('receiveDrain', () => this.gate.release(this.smux));
    this.smux.on('close', (err?: Error) => {
      if (!this.stopped) this.context.fail(`the multiplexed connection failed${err ? `: ${err.message}` : ''}`);
    });
    context.channel.on('drain', this.onChannelDrain);
  }

  async start(): Promise<void> {
    this.listener = await listenLocal(listenSpecFrom(this.context.properties), (socket) => this.onConnection(socket));
    this.context.notice(`${this.listener.description} opened for sessionId ${this.context.sessionId}.`);
    this.context.notice('\nWaiting for connections...\n');
  }

  receive(payloadType: number, payload: Buffer): boolean {
    if (payloadType === PayloadType.Flag) {
      if (decodeFlag(payload) === FlagCode.ConnectToPortError) {
        this.context.notice('\nConnection to destination port failed, check SSM Agent logs.\n');
      }
      return true;
    }
    if (payloadType !== PayloadType.Output) return true;
    this.smux.input(payload);
    if (this.smux.receiveFull) this.gate.hold(this.smux);
    return true;
  }

  signal(name: NodeJS.Signals): boolean {
    if (!isTerminateSignal(name)) return false;
    this.context.notice('Terminate signal received, exiting.\n');
    this.context.end({ reason: `${name} received`, terminateFlag: true, terminateApi: true });
    return true;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.context.channel.off('drain', this.onChannelDrain);
    this.listener?.close();
    for (const socket of this.connections) socket.destroy();
    this.smux.close();
  }

  /** smux output becomes Output payloads of at most 1 KiB; false when the window is full. */
  private sendCarrier(bytes: Buffer): boolean {
    const channel = this.context.channel;
    let open = true;
    for (let offset = 0; offset < bytes.length; offset += STREAM_CHUNK_SIZE) {
      open = channel.send(PayloadType.Output, bytes.subarray(offset, offset + STREAM_CHUNK_SIZE));
    }
    return open;
  }

  private readonly onChannelDrain = (): void => {
    this.smux.carrierDrained();
  };

  private onConnection(socket: net.Socket): void {
    if (this.stopped) return void socket.destroy();
    if (!this.announcedAccept) {
      this.announcedAccept = true;
      this.context.notice(`\nConnection accepted for session [${this.context.sessionId}]\n`);
    }
    const stream = this.smux.openStream();
    this.connections.add(socket);
    this.bridge(socket, stream);
  }

  /**
   * Copies both ways with backpressure; a local EOF travels as FIN and a FIN as a
   * local EOF. Each side closes itself once both directions are done. Towards the socket
   * this is pipe() plus one thing: each chunk goes back to the pool once written.
   */
  private bridge(socket: net.Socket, stream: SmuxStream): void {
    socket.pipe(stream);
    const pool = this.pool;
    stream.on('data', (chunk: Buffer) => {
      if (!socket.write(chunk, () => pool.release(chunk))) stream.pause();
    });
    socket.on('drain', () => stream.resume());
    stream.once('end', () => socket.end());
    socket.on('error', (err) => {
      this.context.logger.debug(`local connection error: ${err.message}`);
      stream.destroy();
    });
    stream.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.connections.delete(socket);
      stream.destroy();
    });
  }
}
