import type net from 'node:net';
import { FlagCode, PayloadType } from '../../protocol/constants.ts';
import { encodeFlag } from '../../protocol/payloads.ts';
import { InputPump } from '../input-pump.ts';
import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { listenLocal, listenSpecFrom, type LocalListener } from './local-listener.ts';
import { IncomingGate } from '../incoming-gate.ts';
import { endOnTerminateSignal } from './port-limits.ts';
import { corkUntilNextTick } from '../../util/tick-cork.ts';

/**
 * Basic port forwarding (§7.3.3): one local connection at a time over the raw Output
 * stream. When it closes we send DisconnectToPort and serve the next one; connections
 * that arrive meanwhile wait, paused, in order.
 */
export class BasicPortHandler implements SessionHandler {
  private readonly context: HandlerContext;
  private readonly gate: IncomingGate;
  private listener: LocalListener | undefined;
  private active: { socket: net.Socket; pump: InputPump } | undefined;
  private readonly waiting: net.Socket[] = [];
  private announcedAccept = false;
  private stopped = false;

  constructor(context: HandlerContext) {
    this.context = context;
    this.gate = new IncomingGate(context.channel);
  }

  async start(): Promise<void> {
    this.listener = await listenLocal(listenSpecFrom(this.context.properties), (socket) => this.onConnection(socket));
    this.context.notice(`${this.listener.description} opened for sessionId ${this.context.sessionId}.\n`);
  }

  receive(payloadType: number, payload: Buffer): boolean {
    if (payloadType !== PayloadType.Output) return true;
    const socket = this.active?.socket;
    // No local connection yet: leave the frame unacked, as the official client does.
    if (!socket) return false;
    corkUntilNextTick(socket);
    this.gate.write(socket, payload);
    return true;
  }

  signal(name: NodeJS.Signals): boolean {
    return endOnTerminateSignal(this.context, name, true);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.listener?.close();
    this.active?.pump.stop();
    this.active?.socket.destroy();
    for (const socket of this.waiting.splice(0)) socket.destroy();
  }

  private onConnection(socket: net.Socket): void {
    if (this.stopped) return void socket.destroy();
    if (this.active) {
      socket.pause();
      this.waiting.push(socket);
      socket.once('close', () => {
        const index = this.waiting.indexOf(socket);
        if (index >= 0) this.waiting.splice(index, 1);
      });
      return;
    }
    this.serve(socket);
  }

  private serve(socket: net.Socket): void {
    if (!this.announcedAccept) {
      this.announcedAccept = true;
      this.context.notice(`Connection accepted for session ${this.context.sessionId}.\n`);
    }
    const pump = new InputPump(this.context.channel, socket);
    this.active = { socket, pump };
    socket.on('data', (data: Buffer) => pump.push(data));
    socket.once('end', () => socket.destroy());
    socket.on('error', (err) => this.context.logger.debug(`local connection error: ${err.message}`));
    socket.once('close', () => this.onLocalClosed(socket));
    socket.resume();
  }

  private onLocalClosed(socket: net.Socket): void {
    if (this.active?.socket !== socket || this.stopped) return;
    this.active.pump.stop();
    this.active = undefined;
    this.gate.forget(socket);
    this.context.channel.send(PayloadType.Flag, encodeFlag(FlagCode.DisconnectToPort));
    const next = this.waiting.shift();
    if (next) this.serve(next);
  }
}
