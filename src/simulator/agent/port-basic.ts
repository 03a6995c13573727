import type { Socket } from 'node:net';
import { FlagCode, PayloadType } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import { decodeFlag } from '../../protocol/payloads.ts';
import type { AgentChannel, InputVerdict } from './agent-channel.ts';
import type { OutputPump } from './output-pump.ts';
import { dialDestination, PortStartError, resolveDestination, type Destination } from './port-dial.ts';
import { LOCAL_PORT_FORWARDING, type PortProperties, type PortSession } from './port-mode.ts';
import { Ending, FAILED_END, failedStart, NORMAL_END, paceOutput, type PortEnd } from './port-output.ts';
import type { PluginContext, PluginResult } from './session-plugin.ts';

/**
 * Basic port mode (§11.6; the agent's port_basic.go): one destination connection dialled
 * at session start, client Output payloads written to it, DisconnectToPort /
 * TerminateSession flags, re-dial on the next payload after a close (LocalPortForwarding;
 * a failed re-dial fails the session), or end of session when the destination closes (any
 * other type, e.g. ssh: EOF ends it normally, a read error, DisconnectToPort included,
 * fails it).
 */

/** Destination bytes read but not yet sent above which the destination socket is paused. */
const BASIC_SOURCE_HIGH_WATER = 256 * 1024;
const BASIC_SOURCE_LOW_WATER = 64 * 1024;

type BasicState = 'starting' | 'connected' | 'disconnected' | 'redialing' | 'ended';

export class BasicPortSession implements PortSession {
  readonly mode = 'basic' as const;
  readonly properties: PortProperties;
  dials = 0;
  state: BasicState = 'starting';

  private readonly context: PluginContext;
  private readonly channel: AgentChannel;
  private readonly localPortForwarding: boolean;
  private readonly pump: OutputPump;
  private readonly ending = new Ending();
  private readonly disposeWritable: () => void;
  private destination: Destination | undefined;
  private socket: Socket | undefined;
  /** Every destination connection not yet closed, including ones closing gracefully. */
  private readonly sockets = new Set<Socket>();
  private sourcePaused = false;
  /** The destination's write buffer is full: input is held until 'drain'. */
  private writeBlocked = false;

  constructor(context: PluginContext, properties: PortProperties) {
    this.context = context;
    this.channel = context.channel;
    this.properties = properties;
    this.localPortForwarding = properties.type === LOCAL_PORT_FORWARDING;
    this.pump = paceOutput(context, BASIC_SOURCE_HIGH_WATER, BASIC_SOURCE_LOW_WATER, {
      pause: () => {
        this.sourcePaused = true;
        this.socket?.pause();
      },
      resume: () => {
        this.sourcePaused = false;
        this.socket?.resume();
      },
    });
    this.disposeWritable = this.channel.onWritable(() => this.pump.wake());
  }

  async run(): Promise<PluginResult> {
    const pumpDone = this.pump.run();
    try {
      await this.connectAtStart();
    } catch (error) {
      this.end(failedStart(error));
    }
    const result = await this.ending.promise;
    await pumpDone; // what was read from the destination goes out first
    this.disposeWritable();
    return result;
  }

  /** The agent dials at session start; any failure fails the session (port_basic.go, InitializeSession). */
  private async connectAtStart(): Promise<void> {
    const destination = await resolveDestination(
      this.properties,
      this.context.settings.allowRemoteDestinations ?? false,
    );
    this.destination = destination;
    if (this.ending.done) return;
    let socket: Socket;
    try {
      socket = await dialDestination(destination);
    } catch (error) {
      throw new PortStartError(`Unable to connect to specified port: ${(error as Error).message}`);
    }
    if (this.ending.done) {
      socket.destroy();
      return;
    }
    this.dials++;
    this.attach(socket);
  }

  handleInput(frame: Frame): InputVerdict {
    if (this.state === 'ended') return 'accepted';
    if (this.state === 'starting') return 'not-ready'; // not connected yet: no ack (§11.6)
    switch (frame.payloadType) {
      case PayloadType.Output:
        return this.write(frame.payload);
      case PayloadType.Flag:
        this.onFlag(decodeFlag(frame.payload));
        return 'accepted';
      default:
        return 'accepted'; // nothing else means anything to a port session
    }
  }

  stop(): void {
    this.end(NORMAL_END, { abortOutput: true });
  }

  private write(payload: Buffer): InputVerdict {
    if (payload.length === 0) return 'accepted';
    if (this.state === 'connected' && this.socket) {
      if (!this.socket.write(payload)) {
        // The real agent's write would block here, and with it its read loop.
        this.writeBlocked = true;
        this.channel.holdInput();
      }
      return 'accepted';
    }
    if (!this.localPortForwarding) return 'accepted'; // the session is on its way out
    if (this.state === 'redialing') return 'not-ready';
    // LocalPortForwarding after a close: dial again, then write this payload.
    this.redial();
    return 'not-ready';
  }

  private redial(): void {
    const destination = this.destination;
    if (!destination) return;
    this.state = 'redialing';
    this.channel.holdInput(); // this frame is retried (and acked) once connected
    dialDestination(destination).then(
      (socket) => {
        if (this.state === 'ended') {
          socket.destroy();
          return;
        }
        this.dials++;
        this.attach(socket);
        this.channel.releaseInput();
      },
      () => {
        if (this.state === 'ended') return;
        // port_basic.go, handlePortError: the write pump gives up and the session fails;
        // the payload that asked for the dial is not acknowledged.
        this.end(FAILED_END);
        this.channel.releaseInput({ dropDeferred: true });
      },
    );
  }

  private onFlag(code: number | undefined): void {
    if (code === FlagCode.TerminateSession) {
      this.end(NORMAL_END, { abortOutput: true });
    } else if (code === FlagCode.DisconnectToPort) {
      const socket = this.socket;
      if (!socket) return;
      this.detach(socket, { graceful: true });
      // Closing the connection makes the write pump's read fail: not EOF, so an ssh-type
      // session fails (port_basic.go, handleSSHDPortError); LocalPortForwarding re-dials.
      if (!this.localPortForwarding) this.end(FAILED_END);
    }
    // ConnectToPortError is agent → client only; other codes do not exist.
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.state = 'connected';
    if (this.sourcePaused) socket.pause();
    socket.on('data', (data: Buffer) => this.pump.push(data));
    socket.on('drain', () => {
      if (this.socket !== socket || !this.writeBlocked) return;
      this.writeBlocked = false;
      this.channel.releaseInput();
    });
    socket.on('end', () => this.onDestinationClosed(socket, undefined));
    socket.on('error', (error) => this.onDestinationClosed(socket, error));
    socket.on('close', () => this.onDestinationClosed(socket, undefined));
  }

  /** The destination closed or failed on its own. */
  private onDestinationClosed(socket: Socket, error: Error | undefined): void {
    if (this.socket !== socket || this.state === 'ended') return;
    this.detach(socket, { graceful: false });
    if (this.localPortForwarding) return; // re-dial silently on the next client payload
    // ssh and other standard-stream forwarding: EOF ends the session, an error fails it
    // (port_basic.go, handleSSHDPortError); what was read goes out first.
    this.end(error ? FAILED_END : NORMAL_END);
  }

  /** Forgets the current connection; later payloads re-dial (LocalPortForwarding). */
  private detach(socket: Socket, options: { graceful: boolean }): void {
    this.socket = undefined;
    this.state = 'disconnected';
    socket.removeAllListeners('data');
    socket.on('error', () => undefined);
    if (options.graceful) {
      // Like closing a Go connection after its writes returned: what was written goes out.
      socket.end(() => socket.destroy());
      socket.resume();
    } else {
      socket.destroy();
    }
    if (this.writeBlocked) {
      this.writeBlocked = false;
      this.channel.releaseInput();
    }
  }

  /** Ends the session; unless aborted, what was read from the destination is sent first (run() waits for the pump). */
  private end(result: PortEnd, options: { abortOutput: boolean } = { abortOutput: false }): void {
    if (this.ending.done) return;
    this.state = 'ended';
    if (options.abortOutput) this.pump.abort();
    else this.pump.end();
    this.closeSocket();
    if (this.writeBlocked) {
      this.writeBlocked = false;
      this.channel.releaseInput();
    }
    this.ending.settle(result);
  }

  private closeSocket(): void {
    this.socket = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
