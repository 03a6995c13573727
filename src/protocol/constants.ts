/** Wire constants of the Session Manager data channel (PROTOCOL.md §3, §13). */

export const HEADER_LENGTH = 116;
export const PAYLOAD_OFFSET = 120;
export const MESSAGE_TYPE_WIDTH = 32;
export const SCHEMA_VERSION = 1;
/** Largest stream chunk the agent and the official client put in one frame. */
export const STREAM_CHUNK_SIZE = 1024;

export const MessageType = {
  InputStreamData: 'input_stream_data',
  OutputStreamData: 'output_stream_data',
  Acknowledge: 'acknowledge',
  ChannelClosed: 'channel_closed',
  StartPublication: 'start_publication',
  PausePublication: 'pause_publication',
  AgentSessionState: 'agent_session_state',
} as const;

export const PayloadType = {
  Output: 1,
  Error: 2,
  Size: 3,
  Parameter: 4,
  HandshakeRequest: 5,
  HandshakeResponse: 6,
  HandshakeComplete: 7,
  EncChallengeRequest: 8,
  EncChallengeResponse: 9,
  Flag: 10,
  StdErr: 11,
  ExitCode: 12,
} as const;
export type PayloadTypeValue = (typeof PayloadType)[keyof typeof PayloadType];

export const FlagCode = {
  DisconnectToPort: 1,
  TerminateSession: 2,
  ConnectToPortError: 3,
} as const;

/** Header Flags field values actually emitted (§3.5). */
export const HeaderFlags = {
  None: 0,
  Syn: 1,
  SynFin: 3,
} as const;

/** The version we report: 4 numeric parts, above 1.2.497.0 so the AWS CLI uses the env-var path. */
export const CLIENT_VERSION = '1.2.700.0';
