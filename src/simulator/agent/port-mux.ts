import type { Socket } from 'node:net';
import { FlagCode, PayloadType } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import { decodeFlag, encodeFlag } from '../../protocol/payloads.ts';
import { SmuxSession } from '../../smux/session.ts';
import type { SmuxStream } from '../../smux/stream.ts';
import { corkUntilNextTick } from '../../util/tick-cork.ts';
import type { AgentChannel, InputVerdict } from './agent-channel.ts';
import type { OutputPump } from './output-pump.ts';
import { dialDestination, resolveDestination, type Destination } from './port-dial.ts';
import { agentSmuxKeepAlive, SMUX_KEEPALIVE, type PortProperties, type PortSession } from './port-mode.ts';
import { Ending, FAILED_END, failedStart, NORMAL_END, paceOutput, type PortEnd } from './port-output.ts';
import type { PluginContext, PluginResult } from './session-plugin.ts';

/**
 * Mux port mode (§11.7; the agent's port_mux.go): an smux v1 server over the Output byte
 * stream, one destination connection per smux stream, dialled one at a time by the accept
 * loop, ConnectToPortError when a dial fails.
 */

/**
 * Bytes the smux server may write ahead of the paced reader, like the socket-pair buffer
 * between the real agent's smux server and its data-channel reader.
 */
const MUX_CARRIER_HIGH_WATER = 256 * 1024;
const MUX_CARRIER_LOW_WATER = 64 * 1024;

export class MuxPortSession implements PortSession {
  readonly mode = 'mux' as const;
  readonly properties: PortProperties;
  readonly keepAlive: boolean;
  readonly smux: SmuxSession;
  dials = 0;
  /** Streams whose destination dial failed (ConnectToPortError sent). */
  dialFailures = 0;
  /** The most dials ever in progress at once (the accept loop makes it 1). */
  maxConcurrentDials = 0;
  private dialsInProgress = 0;

  private readonly channel: AgentChannel;
  private readonly pump: OutputPump;
  private readonly ending = new Ending();
  private readonly disposeWritable: () => void;
  private readonly sockets = new Set<Socket>();
  private destination: Destination | undefined;
  private readonly ready: Promise<void>;
  /** The accept loop's current dial (see onStream). */
  private dialing: Promise<void> = Promise.resolve();
  private heldForReceive = false;
  private ended = false;

  constructor(context: PluginContext, properties: PortProperties) {
    this.channel = context.channel;
    this.properties = properties;
    this.keepAlive = agentSmuxKeepAlive(context.clientVersion);
    // The carrier from the smux server to the client: read in ≤1024-byte paced chunks.
    this.pump = paceOutput(context, MUX_CARRIER_HIGH_WATER, MUX_CARRIER_LOW_WATER, {
      pause: () => undefined, // the smux session stops on its own when push() says false
      resume: () => this.smux.carrierDrained(),
    });
    this.smux = new SmuxSession({
      role: 'server',
      write: (bytes) => this.pump.push(bytes),
      keepAlive: this.keepAlive ? SMUX_KEEPALIVE : false,
    });
    this.smux.on('stream', (stream: SmuxStream) => this.onStream(stream));
    this.smux.on('receiveDrain', () => {
      if (!this.heldForReceive) return;
      this.heldForReceive = false;
      this.channel.releaseInput();
    });
    // The smux session closing by itself (a protocol error) ends the accept loop with an
    // error: the session fails (port_mux.go, WritePump).
    this.smux.on('close', () => this.end(FAILED_END));
    this.disposeWritable = this.channel.onWritable(() => this.pump.wake());
    this.ready = resolveDestination(properties, context.settings.allowRemoteDestinations ?? false).then(
      (destination) => {
        this.destination = destination;
      },
      (error: unknown) => this.end(failedStart(error)),
    );
  }

  /** Streams currently open in the smux server. */
  get streams(): number {
    return this.smux.streams;
  }

  /** Destination connections being read now (not paused by backpressure from the client). */
  get readingDestinations(): number {
    return [...this.sockets].filter((socket) => !socket.isPaused()).length;
  }

  async run(): Promise<PluginResult> {
    const pumpDone = this.pump.run();
    await this.ready;
    const result = await this.ending.promise;
    await pumpDone;
    this.disposeWritable();
    return result;
  }

  handleInput(frame: Frame): InputVerdict {
    if (this.ended) return 'accepted';
    switch (frame.payloadType) {
      case PayloadType.Output:
        if (frame.payload.length > 0) this.smux.input(Buffer.from(frame.payload));
        if (!this.heldForReceive && !this.smux.closed && this.smux.receiveFull) {
          // 4 MiB unread in the streams: the real smux server stops reading its carrier.
          this.heldForReceive = true;
          this.channel.holdInput();
        }
        return 'accepted';
      case PayloadType.Flag:
        if (decodeFlag(frame.payload) === FlagCode.TerminateSession) this.end(NORMAL_END);
        return 'accepted'; // DisconnectToPort means nothing in mux mode
      default:
        return 'accepted';
    }
  }

  stop(): void {
    this.end(NORMAL_END);
  }

  /**
   * The accept loop dials each new stream's destination before it accepts the next one
   * (port_mux.go, handleServerConnections): dials happen one at a time, in order.
   */
  private onStream(stream: SmuxStream): void {
    stream.on('error', () => undefined);
    this.dialing = this.dialing.then(() => this.ready).then(() => this.connectStream(stream));
  }

  private async connectStream(stream: SmuxStream): Promise<void> {
    const destination = this.destination;
    if (this.ended || !destination || stream.destroyed) {
      stream.destroy();
      return;
    }
    let socket: Socket;
    this.maxConcurrentDials = Math.max(this.maxConcurrentDials, ++this.dialsInProgress);
    try {
      socket = await dialDestination(destination);
    } catch {
      if (this.ended) return;
      this.dialFailures++;
      // Flag 3 goes straight onto the data channel; the FIN goes through smux.
      this.channel.sendStream(PayloadType.Flag, encodeFlag(FlagCode.ConnectToPortError));
      stream.resume(); // discard anything the client sent meanwhile
      stream.end(() => stream.destroy());
      return;
    } finally {
      this.dialsInProgress--;
    }
    if (this.ended || stream.destroyed) {
      socket.destroy();
      stream.destroy();
      return;
    }
    this.dials++;
    this.bridge(stream, socket);
  }

  /** Copies both ways; when either side ends, both are closed (no half-close). */
  private bridge(stream: SmuxStream, socket: Socket): void {
    this.sockets.add(socket);
    let closing = false;
    const closeBoth = (abort: boolean): void => {
      if (closing) return;
      closing = true;
      socket.unpipe(stream);
      stream.unpipe(socket);
      // FIN after whatever was already written to the stream, then forget it.
      if (!stream.destroyed) {
        stream.resume();
        if (stream.writableEnded) stream.destroy();
        else stream.end(() => stream.destroy());
      }
      if (abort) socket.destroy();
      else {
        socket.resume();
        socket.end(() => socket.destroy());
      }
    };
    socket.pipe(stream, { end: false });
    // The agent writes each smux frame to its connection as it reads it (Stream.WriteTo);
    // here the frames of one tick leave in one write: the destination reads the same
    // bytes, for one syscall instead of one per frame. Registered before the pipe's own
    // listener, so the cork is on before the tick's first write.
    stream.on('data', () => corkUntilNextTick(socket));
    stream.pipe(socket, { end: false });
    socket.on('end', () => closeBoth(false));
    socket.on('error', () => closeBoth(true));
    socket.on('close', () => {
      this.sockets.delete(socket);
      closeBoth(true);
    });
    stream.on('end', () => closeBoth(false));
    stream.on('close', () => closeBoth(true));
  }

  private end(result: PortEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.pump.abort();
    this.smux.close();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (this.heldForReceive) {
      this.heldForReceive = false;
      this.channel.releaseInput();
    }
    this.ending.settle(result);
  }
}
