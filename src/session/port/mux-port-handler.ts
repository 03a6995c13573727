import type net from 'node:net';
import { FlagCode, PayloadType } from '../../protocol/constants.ts';
import { decodeFlag } from '../../protocol/payloads.ts';
import type { SmuxStream } from '../../smux/stream.ts';
import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { listenLocal, listenSpecFrom, type LocalListener } from './local-listener.ts';
import { endOnTerminateSignal } from './port-limits.ts';
import { MuxCarrier } from './mux-carrier.ts';

export interface MuxOptions {
  /** smux keep-alive (NOP every 10 s, dead after 30 s), only for old agents (§7.3.2). */
  keepAlive: boolean;
}

/**
 * Multiplexed port forwarding (§7.3.4): one smux stream per local connection, carried
 * in Output payloads (MuxCarrier: backpressure both ways). Upload, each local socket is
 * paused while its stream cannot write; download, a stream whose local reader is slow
 * buffers in the carrier, up to MUX_RECEIVE_LIMIT for all streams together.
 */
export class MuxPortHandler implements SessionHandler {
  private readonly context: HandlerContext;
  private readonly carrier: MuxCarrier;
  private readonly connections = new Set<net.Socket>();
  private listener: LocalListener | undefined;
  private announcedAccept = false;
  private stopped = false;

  constructor(context: HandlerContext, options: MuxOptions) {
    this.context = context;
    this.carrier = new MuxCarrier(context, options);
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
    if (payloadType === PayloadType.Output) this.carrier.input(payload);
    return true;
  }

  signal(name: NodeJS.Signals): boolean {
    return endOnTerminateSignal(this.context, name, true);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.listener?.close();
    for (const socket of this.connections) socket.destroy();
    this.carrier.stop();
  }

  private onConnection(socket: net.Socket): void {
    if (this.stopped) return void socket.destroy();
    if (!this.announcedAccept) {
      this.announcedAccept = true;
      this.context.notice(`\nConnection accepted for session [${this.context.sessionId}]\n`);
    }
    const stream = this.carrier.openStream();
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
    const carrier = this.carrier;
    stream.on('data', (chunk: Buffer) => {
      if (!socket.write(chunk, () => carrier.release(chunk))) stream.pause();
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
