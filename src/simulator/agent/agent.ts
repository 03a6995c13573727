import { AgentChannel } from './agent-channel.ts';
import type { SessionDocument } from './documents.ts';
import { performHandshake } from './handshake.ts';
import type { AgentSettings, SessionPlugin } from './session-plugin.ts';

export type AgentState = 'created' | 'handshaking' | 'running' | 'draining' | 'terminated';

export interface AgentOptions {
  sessionId: string;
  document: SessionDocument;
  parameters: Readonly<Record<string, readonly string[]>>;
  settings: AgentSettings;
  /** Writes one frame towards the service (gateway). */
  send: (frame: Buffer) => void;
  /** True while the service connection is backed up (see AgentChannelOptions). */
  transportBlocked?: () => boolean;
  /** Told when the session handler holds input and when it takes input again. */
  onInputHeld?: (held: boolean) => void;
}

/**
 * One simulated SSM agent session: owns the agent's data channel, performs the handshake
 * when the session type needs one, runs the session plugin, and on the way out drains
 * its outgoing buffer (up to 2 s) and reports `Terminating` to the service (§11.2).
 */
export class Agent {
  readonly sessionId: string;
  readonly channel: AgentChannel;
  readonly document: SessionDocument;
  state: AgentState = 'created';
  /** From the HandshakeResponse, when there was one. */
  clientVersion: string | undefined;
  /** '' for a normal end, else the error the session ended with. */
  exitMessage: string | undefined;
  /** Resolves once the agent has reported Terminating (or was stopped). */
  readonly finished: Promise<void>;

  private readonly options: AgentOptions;
  private readonly abortController = new AbortController();
  private plugin: SessionPlugin | undefined;
  private resolveFinished!: () => void;

  constructor(options: AgentOptions) {
    this.options = options;
    this.sessionId = options.sessionId;
    this.document = options.document;
    this.channel = new AgentChannel({
      sessionId: options.sessionId,
      send: options.send,
      transportBlocked: options.transportBlocked,
      onInputHeld: options.onInputHeld,
    });
    this.channel.handshakeRequired = options.document.handshake;
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
  }

  get sessionType(): string {
    return this.document.sessionType;
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
    this.channel.receive(frame);
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
    this.channel.close();
    await this.finished;
  }

  private async run(): Promise<void> {
    const { document, settings } = this.options;
    this.channel.start();
    this.channel.sendSessionState('Connected');
    let message = '';
    try {
      if (document.handshake) {
        this.state = 'handshaking';
        const outcome = await performHandshake(this.channel, {
          agentVersion: settings.agentVersion,
          sessionType: document.sessionType,
          properties: document.properties(this.options.parameters),
          customerMessage: document.customerMessage?.bind(document),
          signal: this.abortController.signal,
        });
        this.clientVersion = outcome.clientVersion;
      }
      if (!this.abortController.signal.aborted) {
        this.state = 'running';
        this.plugin = document.createPlugin({
          channel: this.channel,
          sessionId: this.sessionId,
          parameters: this.options.parameters,
          clientVersion: this.clientVersion,
          settings,
        });
        this.channel.setDataHandler((frame) => this.plugin?.handleInput(frame) ?? 'not-ready');
        message = await this.plugin.run();
      }
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    this.state = 'draining';
    await this.channel.drain();
    this.exitMessage = message;
    this.channel.sendSessionState('Terminating');
    this.channel.close();
    this.state = 'terminated';
    this.resolveFinished();
  }
}
