import { AgentChannel } from './agent-channel.ts';
import { ReadTurns } from './read-turns.ts';
import type { SessionDocument } from './documents.ts';
import { PluginCrash, performHandshake } from './handshake.ts';
import type { AgentKmsOptions } from './kms-encryption.ts';
import type { AgentSettings, PluginResult, SessionPlugin } from './session-plugin.ts';

export type AgentState = 'created' | 'handshaking' | 'running' | 'draining' | 'terminated';

export interface AgentOptions {
  sessionId: string;
  document: SessionDocument;
  parameters: Readonly<Record<string, readonly string[]>>;
  settings: AgentSettings;
  /** The agent's own target id (instance id, or the ECS exec target): aws:ssm:TargetId. */
  targetId?: string;
  /**
   * KMS encryption from the session preferences (§8.1): the agent then handshakes for every
   * non-Port session type, requests KMSEncryption and encrypts payloads.
   */
  kms?: Omit<AgentKmsOptions, 'sessionId' | 'targetId'>;
  /** Writes one frame towards the service (gateway). */
  send: (frame: Buffer) => void;
  /** True while the service connection is backed up (see AgentChannelOptions). */
  transportBlocked?: () => boolean;
  /**
   * Told when the agent stops taking input (its session handler holds input, or frames
   * wait for a later turn of its read loop) and when it takes input again.
   */
  onInputHeld?: (held: boolean) => void;
  /** Bytes of input the read loop processes per event-loop turn (see ReadTurns). */
  readBytesPerTurn?: number;
  /**
   * The session is over and its data channel closed: the task result the agent reports to
   * the service (over its control channel, which the simulator does not model).
   */
  onFinished?: (result: PluginResult) => void;
}

/** sessionplugin.go: how a failed handshake fails the session. */
export const HANDSHAKE_FAILURE_PREFIX = 'Encountered error while initiating handshake. ';

/**
 * One simulated SSM agent session (agent/session/plugins/sessionplugin/sessionplugin.go):
 * owns the agent's data channel, performs the handshake when the session type needs one,
 * runs the session plugin, and on the way out drains its outgoing buffer (up to 2 s),
 * reports `Terminating` to the service where the plugin does (shell and command success
 * paths only), closes the data channel and reports the task result.
 */
export class Agent {
  readonly sessionId: string;
  readonly channel: AgentChannel;
  readonly document: SessionDocument;
  state: AgentState = 'created';
  /** From the HandshakeResponse, when there was one. */
  clientVersion: string | undefined;
  /** How the session ended, once it has. */
  result: PluginResult | undefined;
  /** Whether the session negotiated KMS encryption (set once the handshake has completed). */
  encrypted = false;
  /** Resolves once the session is over and its result reported (or it was stopped). */
  readonly finished: Promise<void>;

  private readonly options: AgentOptions;
  private readonly abortController = new AbortController();
  private plugin: SessionPlugin | undefined;
  private resolveFinished!: () => void;
  private readonly readTurns: ReadTurns;
  private inputHeldReported = false;

  constructor(options: AgentOptions) {
    this.options = options;
    this.sessionId = options.sessionId;
    this.document = options.document;
    this.channel = new AgentChannel({
      sessionId: options.sessionId,
      send: options.send,
      transportBlocked: options.transportBlocked,
      onInputHeld: (held) => {
        if (!held) this.readTurns.wake();
        this.reportInputHeld();
      },
    });
    this.readTurns = new ReadTurns({
      process: (frame) => this.channel.receive(frame),
      onBacklog: () => this.reportInputHeld(),
      isHeld: () => this.channel.inputHeld,
      ...(options.readBytesPerTurn !== undefined ? { bytesPerTurn: options.readBytesPerTurn } : {}),
    });
    this.channel.handshakeRequired = options.document.handshake || this.kmsActive;
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
  }

  get sessionType(): string {
    return this.document.sessionType;
  }

  /** KMS is configured and applies to this session type (never Port, §8.1). */
  get kmsActive(): boolean {
    return this.options.kms !== undefined && this.document.sessionType !== 'Port';
  }

  /** The running session plugin (shell, port, ...), once the handshake is over. */
  get sessionPlugin(): SessionPlugin | undefined {
    return this.plugin;
  }

  /** Starts the session in the background; `finished` tells when it is over. */
  start(): void {
    if (this.state !== 'created') return;
    void this.run();
  }

  /** A frame from the service (client input, acks, publication control). */
  receive(frame: Buffer): void {
    this.readTurns.push(frame);
  }

  /**
   * True while the agent takes no more input for now: its session handler holds input,
   * or its read loop has frames waiting for a later turn. The service stops reading the
   * client meanwhile.
   */
  get inputHeld(): boolean {
    return this.channel.inputHeld || this.readTurns.backlogged;
  }

  private reportInputHeld(): void {
    const held = this.inputHeld;
    if (held === this.inputHeldReported) return;
    this.inputHeldReported = held;
    this.options.onInputHeld?.(held);
  }

  /** Ends the session as TerminateSession does: stop the plugin, then the normal exit path. */
  terminate(): void {
    this.abortController.abort();
    this.plugin?.stop();
  }

  /** Simulator shutdown: cancel everything, skip the drain, wait for the process to go. */
  async stop(): Promise<void> {
    if (this.state === 'created') {
      this.state = 'terminated';
      this.resolveFinished();
    }
    this.terminate();
    this.readTurns.close();
    this.channel.close();
    await this.finished;
  }

  private async run(): Promise<void> {
    const { document, settings } = this.options;
    this.channel.start();
    this.channel.sendSessionState('Connected');
    let result: PluginResult;
    try {
      result = await this.runSession();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result = { status: 'failed', output: message, terminating: false };
    }
    this.state = 'draining';
    await this.channel.drain();
    if (result.terminating) this.channel.sendSessionState('Terminating');
    this.readTurns.close();
    this.channel.close();
    this.result = result;
    this.state = 'terminated';
    this.options.onFinished?.(result);
    this.resolveFinished();
  }

  /** The handshake (when needed) and the plugin; a failed handshake fails the session. */
  private async runSession(): Promise<PluginResult> {
    const { document, settings } = this.options;
    const parameters = this.options.parameters;
    const preflight = document.preflight?.(parameters);
    if (preflight !== undefined) return { status: 'failed', output: preflight, terminating: false };
    if (this.channel.handshakeRequired) {
      this.state = 'handshaking';
      const kms = this.kmsActive ? this.options.kms : undefined;
      try {
        const outcome = await performHandshake(this.channel, {
          agentVersion: settings.agentVersion,
          sessionType: document.sessionType,
          properties: document.properties(parameters),
          customerMessage: (clientVersion) => document.customerMessage?.(clientVersion, parameters) ?? '',
          signal: this.abortController.signal,
          ...(settings.handshakeTimeoutMs !== undefined ? { timeoutMs: settings.handshakeTimeoutMs } : {}),
          ...(kms ? { kms: { ...kms, sessionId: this.sessionId, targetId: this.options.targetId ?? '' } } : {}),
        });
        this.clientVersion = outcome.clientVersion;
        this.encrypted = outcome.cipher !== undefined;
      } catch (error) {
        if (this.abortController.signal.aborted) return { status: 'success', output: '', terminating: false };
        const message = error instanceof Error ? error.message : String(error);
        const output = error instanceof PluginCrash ? message : `${HANDSHAKE_FAILURE_PREFIX}${message}`;
        return { status: 'failed', output, terminating: false };
      }
    }
    if (this.abortController.signal.aborted) return { status: 'success', output: '', terminating: false };
    this.state = 'running';
    this.plugin = document.createPlugin({
      channel: this.channel,
      sessionId: this.sessionId,
      parameters,
      clientVersion: this.clientVersion,
      settings,
      containerMode: (this.options.targetId ?? '').startsWith('ecs:'),
    });
    this.channel.setDataHandler((frame) => this.plugin?.handleInput(frame) ?? 'not-ready');
    return this.plugin.run();
  }
}
