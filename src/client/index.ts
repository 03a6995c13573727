/**
 * The `ssm-session` library: sessions, port streams, pooled port forwards and a SOCKS5
 * proxy over AWS Systems Manager Session Manager, started with the AWS SDK and the
 * caller's normal credential chain. See src/client/README.md for examples and for what
 * pooling can and cannot do (striping).
 */
export type { AwsOptions } from './aws-options.ts';
export {
  resolveTarget,
  parseTargetSpec,
  targetPlatform,
  TargetError,
  type ResolvedTarget,
  type TargetSpec,
  type TargetCandidate,
  type TargetErrorReason,
} from './targets.ts';
export { ClientError, type ClientErrorCode } from './errors.ts';
export { remoteCommand, type RemotePlatform } from './remote-command.ts';
export {
  startSession,
  describeOutcome,
  type Session,
  type SessionStats,
  type SessionState,
  type SessionOutcome,
  type SessionNotice,
  noticeText,
  type StartSessionOptions,
  type SessionRunOptions,
} from './session.ts';
export { openPortSession, type PortSession, type PortMode, type OpenPortSessionOptions } from './port-session.ts';
export { forwardPort } from './forward.ts';
export { startSocksProxy } from './socks-proxy.ts';
export type {
  Forward,
  ForwardEvent,
  ForwardPortOptions,
  ForwardStats,
  PoolOptions,
  SocksProxyOptions,
} from './forward-types.ts';
export type { SessionIO } from '../session/io.ts';
export type { Logger } from '../util/logger.ts';
export { listInstances, type InstanceSummary, type InstanceFilter, type InstanceListing } from './instances.ts';
export { download } from './copy/download.ts';
export { upload } from './copy/upload.ts';
export { CopyError, type CopyErrorCode } from './copy/errors.ts';
export type { Copy, CopyOptions, CopyProgress, CopyResult, CopyStage } from './copy/transfer.ts';
