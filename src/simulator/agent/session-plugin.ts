import type { Frame } from '../../protocol/frame.ts';
import type { AgentChannel, InputVerdict } from './agent-channel.ts';

/** Session types an agent reports in its handshake (PROTOCOL.md §4.4). */
export type SessionType = 'Standard_Stream' | 'InteractiveCommands' | 'NonInteractiveCommands' | 'Port';

/** Everything a session plugin may need; built by the agent after any handshake. */
export interface PluginContext {
  channel: AgentChannel;
  sessionId: string;
  /** StartSession `Parameters` (document parameters, each a list of strings). */
  parameters: Readonly<Record<string, readonly string[]>>;
  /** From the HandshakeResponse; undefined for sessions without a handshake. */
  clientVersion: string | undefined;
  settings: AgentSettings;
  /**
   * The agent runs in a container (ECS exec targets): every command is split and executed
   * without a shell, and no RunAs user is involved.
   */
  containerMode: boolean;
}

/** Simulator-wide agent settings. */
export interface AgentSettings {
  agentVersion: string;
  /** Delay before the first pty read (the real agent waits 1 s). */
  shellDelayMs: number;
  /** The agent's 1 ms sleep between 1024-byte reads. */
  pacing: boolean;
  shellCwd: string;
  shellPath: string;
  shellArgs: readonly string[];
  /** Prompt for the simulated ssm-user shell. */
  shellPrompt: string;
  /** Whether port sessions may dial non-loopback destinations (default false). */
  allowRemoteDestinations?: boolean;
  /** The agent's wait for HandshakeResponse and for EncChallengeResponse (default 15 s each). */
  handshakeTimeoutMs?: number;
}

/**
 * How a session plugin ended, as the agent reports it: the task result (status and the
 * failure text it sets) and whether the plugin sent agent_session_state `Terminating`
 * first, which the agent does only on the shell and command success paths
 * (agent/session/shell/shell.go; the port plugin never does, agent/session/plugins/port).
 */
export interface PluginResult {
  status: 'success' | 'failed';
  /** The failure text of the task result ('' when none was set). */
  output: string;
  terminating: boolean;
}

export const PLUGIN_SUCCESS: PluginResult = { status: 'success', output: '', terminating: true };

/**
 * One session type's work on the agent (shell, port forwarding, commands). The agent
 * owns the data channel and the handshake; a plugin only handles payloads.
 */
export interface SessionPlugin {
  /** Runs the session; resolves once its output has been handed to the channel. */
  run(): Promise<PluginResult>;
  /** One in-order input frame; 'not-ready' makes the channel withhold the ack. */
  handleInput(frame: Frame): InputVerdict;
  /** Ends the session early (TerminateSession): stop the process and the output loop. */
  stop(): void;
}
