import { lookup } from 'node:dns/promises';
import { connect, isIP, type Socket } from 'node:net';
import { FlagCode, PayloadType } from '../../protocol/constants.ts';
import type { Frame } from '../../protocol/frame.ts';
import { decodeFlag, encodeFlag } from '../../protocol/payloads.ts';
import { compareAgentVersions } from '../../protocol/version.ts';
import { SmuxSession, type SmuxKeepAliveOptions } from '../../smux/session.ts';
import type { SmuxStream } from '../../smux/stream.ts';
import type { AgentChannel, InputVerdict } from './agent-channel.ts';
import { OutputPump } from './output-pump.ts';
import type { PluginContext, PluginResult, SessionPlugin } from './session-plugin.ts';

/**
 * Port sessions on the simulated agent (PROTOCOL.md §7.3, §11.6, §11.7; the agent's
 * agent/session/plugins/port/port.go, port_basic.go, port_mux.go):
 *
 * * basic mode: one destination connection dialled at session start, client Output
 *   payloads written to it, DisconnectToPort / TerminateSession flags, re-dial on the
 *   next payload after a close (LocalPortForwarding; a failed re-dial fails the session),
 *   or end of session when the destination closes (any other type, e.g. ssh: EOF ends it
 *   normally, a read error, DisconnectToPort included, fails it);
 * * mux mode: an smux v1 server over the Output byte stream, one destination connection
 *   per smux stream, dialled one at a time by the accept loop, ConnectToPortError when a
 *   dial fails.
 *
 * The port plugin never reports agent_session_state Terminating: the session simply ends
 * with its task result (failure texts as the agent sets them).
 *
 * Destination → client bytes go through the agent's paced read loop (OutputPump): at most
 * 1024 bytes per frame and, with pacing on, a 1 ms sleep between reads.
 */

export type AgentPortMode = 'basic' | 'mux';

/** Port-session properties as they appear in the SessionType action (all strings). */
export type PortProperties = Readonly<Record<string, string>>;

/** The newest agent version without smux: such agents are basic whatever the client says. */
export const LAST_AGENT_WITHOUT_MUX = '3.0.196.0';
/** The agent uses mux for clients at or above this version (§7.3.2). */
export const MUX_MIN_CLIENT_VERSION = '1.1.70';
/** The agent turns smux keep-alive off for clients above this version (§7.3.2). */
export const SMUX_KEEPALIVE_OFF_ABOVE_CLIENT = '1.2.331.0';
export const SMUX_KEEPALIVE: SmuxKeepAliveOptions = { intervalMs: 10_000, timeoutMs: 30_000 };
/**
 * Bytes the smux server may write ahead of the paced reader, like the socket-pair buffer
 * between the real agent's smux server and its data-channel reader.
 */
const MUX_CARRIER_HIGH_WATER = 256 * 1024;
const MUX_CARRIER_LOW_WATER = 64 * 1024;
/** Destination bytes read but not yet sent above which the destination socket is paused. */
const BASIC_SOURCE_HIGH_WATER = 256 * 1024;
const BASIC_SOURCE_LOW_WATER = 64 * 1024;

export const LOCAL_PORT_FORWARDING = 'LocalPortForwarding';

/** Decides the mode exactly as the agent does: from the ClientVersion, not the client's rule. */
export function selectAgentPortMode(
  properties: PortProperties,
  clientVersion: string | undefined,
  agentVersion: string,
): AgentPortMode {
  if (properties.type !== LOCAL_PORT_FORWARDING) return 'basic';
  // A real agent this old has no mux code at all.
  if (compareAgentVersions(agentVersion, LAST_AGENT_WITHOUT_MUX) <= 0) return 'basic';
  return compareAgentVersions(clientVersion ?? '', MUX_MIN_CLIENT_VERSION) >= 0 ? 'mux' : 'basic';
}

/** Whether the agent's smux server runs keep-alive for this client (§7.3.2). */
export function agentSmuxKeepAlive(clientVersion: string | undefined): boolean {
  return compareAgentVersions(clientVersion ?? '', SMUX_KEEPALIVE_OFF_ABOVE_CLIENT) <= 0;
}

export function createPortSession(context: PluginContext, properties: PortProperties): PortSession {
  const mode = selectAgentPortMode(properties, context.clientVersion, context.settings.agentVersion);
  return mode === 'mux' ? new MuxPortSession(context, properties) : new BasicPortSession(context, properties);
}

export interface PortSession extends SessionPlugin {
  readonly mode: AgentPortMode;
  readonly properties: PortProperties;
  /** How many destination connections were opened so far. */
  readonly dials: number;
}

// ---------------------------------------------------------------------------------------
// Destinations

export interface Destination {
  /** The host as the properties give it ('' for the target itself). */
  host: string;
  /** Addresses to try in order (none when the host did not resolve). */
  addresses: string[];
  port: number;
}

/**
 * The agent's default deny list for remote hosts (agent/appconfig/constants.go,
 * DefaultDeniedPortForwardingRemoteIPs): the instance metadata service, DNS, NTP and
 * other EC2 link-local endpoints. (The agent also denies the VPC's DNS addresses, which
 * it learns from the instance metadata; the simulator has no VPC.)
 */
export const DENIED_REMOTE_IPS: readonly string[] = [
  '169.254.169.254',
  'fd00:ec2::254',
  '169.254.169.253',
  'fd00:ec2::253',
  '169.254.169.123',
  'fd00:ec2::123',
  '169.254.169.250',
  '169.254.169.251',
  'fd00:ec2::240',
];

/** An IP address in one canonical text form (an IPv4-mapped IPv6 address as IPv4), as Go's IP.Equal compares. */
function canonicalIp(address: string): string | undefined {
  const lower = address.toLowerCase();
  if (isIP(lower) === 4) return lower;
  if (isIP(lower) !== 6) return undefined;
  const hostname = new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(hostname);
  if (!mapped) return hostname;
  const high = parseInt(mapped[1] as string, 16);
  const low = parseInt(mapped[2] as string, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

const DENIED = new Set(DENIED_REMOTE_IPS.map((address) => canonicalIp(address)));

export function isForbiddenAddress(address: string): boolean {
  return DENIED.has(canonicalIp(address));
}

function isLoopbackAddress(address: string): boolean {
  const lower = address.toLowerCase();
  return lower === '::1' || lower.startsWith('127.') || lower.startsWith('::ffff:127.');
}

/** Why a port session cannot start; `message` is the task result's text. */
export class PortStartError extends Error {}

/**
 * Resolves the destination at session start (port.go, validateParameters). No host, and
 * `localhost`, mean 127.0.0.1, so that all simulator traffic stays on IPv4 loopback. A
 * host that does not resolve is not an error here (the agent ignores the lookup error;
 * the dial then fails with "missing address"). A resolved address on the deny list fails
 * the session naming the host as given.
 */
export async function resolveDestination(properties: PortProperties, allowRemote: boolean): Promise<Destination> {
  const portText = properties.portNumber ?? '';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new PortStartError(`Invalid portNumber "${portText}".`);
  const host = properties.host ?? '';
  let addresses: string[];
  const bare = host.replace(/^\[|\]$/g, '');
  if (host === '' || host.toLowerCase() === 'localhost') {
    addresses = ['127.0.0.1'];
  } else if (isIP(bare) !== 0) {
    addresses = [bare];
  } else {
    addresses = await lookup(host, { all: true, verbatim: true }).then(
      (entries) => entries.map((entry) => entry.address),
      () => [],
    );
  }
  if (addresses.some(isForbiddenAddress)) throw new PortStartError(`Forwarding to IP address ${host} is forbidden.`);
  if (!allowRemote) {
    const remote = addresses.find((address) => !isLoopbackAddress(address));
    if (remote !== undefined) {
      throw new PortStartError(
        `The simulator only forwards to loopback addresses: ${host} resolves to ${remote} ` +
          '(start the simulator with allowRemoteDestinations to change this).',
      );
    }
  }
  return { host, addresses, port };
}

/** Go's errno texts for the dial failures a simulator sees. */
const DIAL_ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ECONNRESET: 'connection reset by peer',
};

/** net.JoinHostPort: IPv6 addresses in brackets. */
function joinHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Dials each address in turn (port.go, DialCall); rejects with the first failure, in Go's
 * words (`dial tcp 127.0.0.1:22: connect: connection refused`; `missing address` when the
 * host resolved to nothing).
 */
export function dialDestination(destination: Destination): Promise<Socket> {
  let firstError: Error | undefined;
  const attempt = (index: number): Promise<Socket> => {
    const address = destination.addresses[index];
    if (address === undefined) return Promise.reject(firstError ?? new Error('missing address'));
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: address, port: destination.port });
      const onError = (error: NodeJS.ErrnoException): void => {
        socket.destroy();
        const reason = DIAL_ERRNO_TEXT[error.code ?? ''] ?? error.message;
        reject(new Error(`dial tcp ${joinHostPort(address, destination.port)}: connect: ${reason}`));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(socket);
      });
    }).catch((error: Error) => {
      firstError ??= error;
      return attempt(index + 1);
    });
  };
  return attempt(0);
}

function paceOutput(context: PluginContext, highWaterBytes: number, lowWaterBytes: number, source: {
  pause: () => void;
  resume: () => void;
}): OutputPump {
  const channel = context.channel;
  return new OutputPump({
    send: (chunk) => channel.sendStream(PayloadType.Output, chunk),
    // Blocked while publication is paused or the client connection is backed up.
    isPaused: () => !channel.writable,
    initialDelayMs: 0,
    pacing: context.settings.pacing,
    holdBackPartialUtf8: false,
    pauseSource: source.pause,
    resumeSource: source.resume,
    highWaterBytes,
    lowWaterBytes,
  });
}

/** How a port session ends: its task result (port.go, execute); never with Terminating. */
type PortEnd = Omit<PluginResult, 'terminating'>;
const NORMAL_END: PortEnd = { status: 'success', output: '' };
/** A WritePump error: the session fails, with no text (port.go sets none). */
const FAILED_END: PortEnd = { status: 'failed', output: '' };

function failedStart(error: unknown): PortEnd {
  return { status: 'failed', output: error instanceof Error ? error.message : String(error) };
}

/** A settle-once promise for the session's end. */
class Ending {
  readonly promise: Promise<PluginResult>;
  done = false;
  private resolve!: (end: PluginResult) => void;
  constructor() {
    this.promise = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }
  settle(end: PortEnd): void {
    if (this.done) return;
    this.done = true;
    this.resolve({ ...end, terminating: false });
  }
}

// ---------------------------------------------------------------------------------------
// Basic mode (§11.6)

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

// ---------------------------------------------------------------------------------------
// Mux mode (§11.7)

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
