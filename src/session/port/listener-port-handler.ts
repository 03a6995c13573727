import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { bridge } from './bridge.ts';
import { listenLocal, listenSpecFrom, type LocalListener } from './local-listener.ts';
import { endOnTerminateSignal } from './port-limits.ts';
import type { StreamHandler } from './stream-handler.ts';

/**
 * The plugin's LocalPortForwarding endpoint (§7.3.3, §7.3.4): a local listener (TCP
 * port, Unix socket or named pipe) whose connections each get a stream of the session's
 * stream handler, joined by the bridge, and the official plugin's messages. The
 * connections themselves (basic or mux mode, backpressure, the session's end) are the
 * stream handler's and the bridge's business, shared with the library.
 *
 * In basic mode a local EOF closes the connection once what was read has been sent
 * (the official plugin then sends DisconnectToPort): the mode has no half-close.
 */
export class ListenerPortHandler implements SessionHandler {
  private readonly context: HandlerContext;
  private readonly streams: StreamHandler;
  private listener: LocalListener | undefined;
  private announcedAccept = false;
  private stopped = false;

  constructor(context: HandlerContext, streams: StreamHandler) {
    this.context = context;
    this.streams = streams;
    streams.on('refused', () => this.context.notice('\nConnection to destination port failed, check SSM Agent logs.\n'));
  }

  async start(): Promise<void> {
    this.streams.start();
    this.listener = await listenLocal(listenSpecFrom(this.context.properties), (socket) => this.onConnection(socket));
    const opened = `${this.listener.description} opened for sessionId ${this.context.sessionId}.`;
    // The official texts differ by mode, down to the line ends.
    if (this.streams.mode === 'mux') {
      this.context.notice(opened);
      this.context.notice('\nWaiting for connections...\n');
    } else {
      this.context.notice(`${opened}\n`);
    }
  }

  receive(payloadType: number, payload: Buffer): boolean {
    return this.streams.receive(payloadType, payload);
  }

  signal(name: NodeJS.Signals): boolean {
    return endOnTerminateSignal(this.context, name, true);
  }

  /** Closes the listener; stopping the streams resets the connections and turns away those still waiting. */
  stop(): void {
    this.stopped = true;
    this.listener?.close();
    this.streams.stop();
  }

  private onConnection(socket: net.Socket): void {
    if (this.stopped) return void socket.destroy();
    socket.pause();
    socket.on('error', (err) => this.context.logger.debug(`local connection error: ${err.message}`));
    // A waiting connection (basic mode: one at a time) that errors or closes gives up its
    // turn. Paused, it may not notice its client leaving; it is then served and closes at once.
    const waiter = new AbortController();
    const giveUp = (): void => waiter.abort();
    socket.once('close', giveUp);
    this.streams.openStream(waiter.signal).then(
      (stream) => {
        socket.off('close', giveUp);
        if (socket.destroyed || this.stopped) return void stream.destroy();
        this.carry(socket, stream);
      },
      () => socket.destroy(),
    );
  }

  private carry(socket: net.Socket, stream: Duplex): void {
    if (!this.announcedAccept) {
      this.announcedAccept = true;
      this.context.notice(
        this.streams.mode === 'mux'
          ? `\nConnection accepted for session [${this.context.sessionId}]\n`
          : `Connection accepted for session ${this.context.sessionId}.\n`,
      );
    }
    if (this.streams.mode === 'basic') {
      socket.once('end', () => {
        if (stream.writableFinished) socket.destroy();
        else stream.once('finish', () => socket.destroy());
      });
    }
    void bridge(socket, stream, { recycle: (chunk) => this.streams.recycle(chunk) });
  }
}
