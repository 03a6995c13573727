import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { findDocument, DEFAULT_DOCUMENT, type SessionDocument } from './agent/documents.ts';
import { ApiError, optionalString } from './api-error.ts';
import { ECS_EXEC_DOCUMENT, ECS_SESSION_ID_PREFIX, ECS_TARGET_PREFIX, type FakeEcs } from './ecs.ts';
import type { FaultInjector } from './faults.ts';
import { ec2Action, ec2ErrorXml, ec2Query } from './ec2-api.ts';
import { DEFAULT_KMS_REGION, type FakeKms } from './kms.ts';
import type { Gateway } from './gateway.ts';
import { describeInstanceInformation } from './instance-information.ts';
import type { InstanceRegistry } from './instances.ts';
import type { SessionRegistry, SessionSpec, SimSession } from './sessions.ts';

export { ApiError } from './api-error.ts';

export type ApiService = 'ssm' | 'kms' | 'ecs' | 'ec2';

/** One request to the simulated AWS APIs (SSM, KMS, ECS), in arrival order. */
export interface ApiCall {
  time: number;
  /** Which fake service answered; undefined for an unknown X-Amz-Target. */
  service?: ApiService;
  /**
   * The operation without its target prefix, e.g. `StartSession`, `GenerateDataKey`,
   * `ExecuteCommand`; the raw X-Amz-Target when the service is unknown.
   */
  operation: string;
  /** `agent` for the simulated agent's own in-process KMS Decrypt calls; else undefined (HTTP). */
  caller?: 'agent';
  /** Parsed JSON body (undefined when it did not parse); EC2's form fields as an object. */
  body: unknown;
  status: number;
  /** The AWS error type returned, if any. */
  errorType?: string;
  /** The Host header: which endpoint the caller meant (e.g. through a proxy). */
  host?: string;
  /** The access key id that signed the request (SigV4 Credential scope), if any. */
  accessKeyId?: string;
}

export interface SsmApiOptions {
  registry: SessionRegistry;
  gateway: Gateway;
  faults: FaultInjector;
  apiCalls: ApiCall[];
  /** Builds the session (and its agent) for a validated StartSession. */
  createSession: (spec: SessionSpec, document: SessionDocument) => SimSession;
  /** The session's data-channel URL; wss:// when `secure` (the API call came over TLS). */
  streamUrl: (session: SimSession, secure?: boolean) => string;
  /** Well-formed targets that answer TargetNotConnected. */
  disconnectedTargets: ReadonlySet<string>;
  /** Managed instances (DescribeInstanceInformation); registered ones not Online are not connected. */
  instances: InstanceRegistry;
  kms: FakeKms;
  ecs: FakeEcs;
  /** IAM actions (`ssm:DescribeInstanceInformation`, …) the caller is not allowed: AccessDeniedException. */
  deniedActions?: ReadonlySet<string>;
}

const JSON_11 = 'application/x-amz-json-1.1';
const SSM_TARGET_PREFIX = 'AmazonSSM.';
const KMS_TARGET_PREFIX = 'TrentService.';
const MAX_BODY_BYTES = 1024 * 1024;
/** EC2 and hybrid instance ids, and the ECS exec form `ecs:<cluster>_<task>_<runtimeId>` (§1.5). */
const TARGET_PATTERN = /^(?:(?:i|mi)-[0-9a-f]{8}(?:[0-9a-f]{9})?|ecs:[\w.-]+_[\w.-]+_[\w.-]+)$/;

type Operation = (body: Record<string, unknown>, options: SsmApiOptions, region: string) => Record<string, unknown>;

const ssmOperations: Record<string, Operation> = {
  StartSession: startSession,
  ResumeSession: resumeSession,
  TerminateSession: terminateSession,
  DescribeInstanceInformation: (body, options) => describeInstanceInformation(body, options.instances),
  ListTagsForResource: (body, options) => listTagsForResource(body, options),
};

const kmsOperations: Record<string, Operation> = {
  GenerateDataKey: (body, options, region) => options.kms.generateDataKey(body, region),
  Decrypt: (body, options, region) => options.kms.decrypt(body, region),
};

const ecsOperations: Record<string, Operation> = {
  ExecuteCommand: executeCommand,
  DescribeTasks: (body, options, region) => options.ecs.describeTasks(body, region),
};

const services: ReadonlyArray<{ service: ApiService; prefix: string; operations: Record<string, Operation> }> = [
  { service: 'ssm', prefix: SSM_TARGET_PREFIX, operations: ssmOperations },
  { service: 'kms', prefix: KMS_TARGET_PREFIX, operations: kmsOperations },
  { service: 'ecs', prefix: ECS_TARGET_PREFIX, operations: ecsOperations },
];

/**
 * HTTP handler for the simulated AWS APIs on one endpoint, routed by X-Amz-Target: the
 * three SSM session operations plus DescribeInstanceInformation, KMS GenerateDataKey/Decrypt and ECS
 * ExecuteCommand/DescribeTasks. Any request with a SigV4 Authorization header is accepted
 * (the signature is not checked).
 */
export function createSsmApiHandler(options: SsmApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(req, res, options);
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: SsmApiOptions): Promise<void> {
  const amzTarget = String(req.headers['x-amz-target'] ?? '');
  if (!amzTarget && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    await handleEc2(req, res, options);
    return;
  }
  const route = services.find((candidate) => amzTarget.startsWith(candidate.prefix));
  const operation = route ? amzTarget.slice(route.prefix.length) : amzTarget;
  const call: ApiCall = { time: Date.now(), operation, body: undefined, status: 200 };
  if (route) call.service = route.service;
  if (req.headers.host) call.host = req.headers.host;
  const signer = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ''));
  if (signer) call.accessKeyId = signer[1];
  options.apiCalls.push(call);
  let result: Record<string, unknown>;
  try {
    const raw = await readBody(req);
    call.body = parseJson(raw);
    // Over TLS, the stream URLs handed out are wss:// too.
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
    const perRequest = secure ? { ...options, streamUrl: (session: SimSession) => options.streamUrl(session, true) } : options;
    result = dispatch(req, raw, call.body, route && Object.hasOwn(route.operations, operation) ? route.operations[operation] : undefined,
      amzTarget, perRequest, route ? `${route.service}:${operation}` : '');
  } catch (error) {
    const apiError =
      error instanceof ApiError ? error : new ApiError('InternalServerError', 500, 'An internal error occurred.');
    call.status = apiError.status;
    call.errorType = apiError.type;
    reply(res, apiError.status, { __type: apiError.type, message: apiError.message });
    return;
  }
  reply(res, 200, result);
}

/** EC2's Query protocol (form in, XML out): DescribeTags, for instance names. */
async function handleEc2(req: IncomingMessage, res: ServerResponse, options: SsmApiOptions): Promise<void> {
  const call: ApiCall = { time: Date.now(), service: 'ec2', operation: '(none)', body: undefined, status: 200 };
  options.apiCalls.push(call);
  let status = 200;
  let text: string;
  try {
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    call.operation = ec2Action(form);
    call.body = Object.fromEntries(form);
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
      throw new ApiError('AuthFailure', 401, 'AWS was not able to validate the provided access credentials');
    }
    text = ec2Query(form, options.instances);
  } catch (error) {
    const apiError = error instanceof ApiError ? error : new ApiError('InternalError', 500, 'An internal error occurred.');
    call.status = status = apiError.status;
    call.errorType = apiError.type;
    text = ec2ErrorXml(apiError);
  }
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'text/xml;charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * SSM ListTagsForResource for managed instances: only hybrid (`mi-`) ids are SSM's own
 * (an EC2 instance's tags are EC2's, DescribeTags), as on the real service.
 */
function listTagsForResource(body: Record<string, unknown>, options: SsmApiOptions): Record<string, unknown> {
  const type = requireString(body, 'ResourceType');
  const id = requireString(body, 'ResourceId');
  if (type !== 'ManagedInstance') throw new ApiError('InvalidResourceType', 400, `The simulator lists tags of ManagedInstance resources only, not ${type}.`);
  const instance = id.startsWith('mi-') ? options.instances.get(id) : undefined;
  if (!instance) throw new ApiError('InvalidResourceId', 400, `The resource ID "${id}" is not valid. Verify the ID and try again.`);
  return { TagList: Object.entries(instance.tags).map(([Key, Value]) => ({ Key, Value })) };
}

function dispatch(
  req: IncomingMessage,
  raw: Buffer,
  body: unknown,
  handler: Operation | undefined,
  amzTarget: string,
  options: SsmApiOptions,
  action: string,
): Record<string, unknown> {
  const authorization = String(req.headers.authorization ?? '');
  if (!authorization.startsWith('AWS4-HMAC-SHA256 ')) {
    throw new ApiError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token');
  }
  if (options.deniedActions?.has(action)) {
    throw new ApiError(
      'AccessDeniedException',
      400,
      `User: arn:aws:iam::123456789012:user/simulated is not authorized to perform: ${action} because no identity-based policy allows the ${action} action`,
    );
  }
  if (req.method !== 'POST' || !handler) {
    throw new ApiError('UnknownOperationException', 400, `Unknown operation ${amzTarget || '(none)'}`);
  }
  if (raw.length > 0 && (body === null || typeof body !== 'object' || Array.isArray(body))) {
    throw new ApiError('SerializationException', 400, 'Request body is not a JSON object.');
  }
  return handler((body ?? {}) as Record<string, unknown>, options, signingRegion(authorization));
}

/** The region of the SigV4 credential scope (`Credential=AKID/date/region/service/aws4_request`). */
function signingRegion(authorization: string): string {
  const scope = /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\//.exec(authorization);
  return scope?.[1] ?? DEFAULT_KMS_REGION;
}

/** ECS ExecuteCommand: an InteractiveCommands session on the ecs:<cluster>_<task>_<runtime> target. */
function executeCommand(body: Record<string, unknown>, options: SsmApiOptions, region: string): Record<string, unknown> {
  return options.ecs.executeCommand(body, region, (request) => {
    const document = findDocument(ECS_EXEC_DOCUMENT);
    if (!document) throw new ApiError('ServerException', 500, 'The ECS exec document is missing.');
    const session = options.createSession(
      {
        target: request.target,
        documentName: ECS_EXEC_DOCUMENT,
        parameters: { command: [request.command] },
        reason: undefined,
        idPrefix: ECS_SESSION_ID_PREFIX,
      },
      document,
    );
    return { sessionId: session.sessionId, streamUrl: options.streamUrl(session), tokenValue: session.token };
  });
}

function startSession(body: Record<string, unknown>, options: SsmApiOptions): Record<string, unknown> {
  const target = requireString(body, 'Target');
  if (!TARGET_PATTERN.test(target)) throw new ApiError('InvalidTarget', 400, `Invalid target: ${target}`);
  const registered = options.instances.get(target);
  if (options.disconnectedTargets.has(target) || (registered && registered.pingStatus !== 'Online')) {
    throw new ApiError('TargetNotConnected', 400, `${target} is not connected.`);
  }
  const documentName = optionalString(body, 'DocumentName') ?? DEFAULT_DOCUMENT;
  const document = findDocument(documentName);
  if (!document) {
    throw new ApiError('InvalidDocument', 400, `Document ${documentName} is not supported by this simulator.`);
  }
  const parameters = readParameters(body.Parameters);
  const invalid = document.validateParameters?.(parameters);
  if (invalid !== undefined) throw new ApiError('InvalidParameters', 400, invalid);
  const session = options.createSession(
    {
      target,
      documentName,
      parameters,
      reason: optionalString(body, 'Reason'),
    },
    document,
  );
  return { SessionId: session.sessionId, TokenValue: session.token, StreamUrl: options.streamUrl(session) };
}

function resumeSession(body: Record<string, unknown>, options: SsmApiOptions): Record<string, unknown> {
  const sessionId = requireString(body, 'SessionId');
  const refusal = options.faults.activeResumeRefusal();
  if (refusal) throw new ApiError(refusal.errorType, refusal.status, refusal.message);
  const session = options.registry.get(sessionId);
  if (!session || session.status !== 'active') {
    throw new ApiError('DoesNotExistException', 400, `Session ${sessionId} does not exist or has been terminated.`);
  }
  const token = session.rotateToken(); // the previous token stops working now
  return { SessionId: session.sessionId, TokenValue: token, StreamUrl: options.streamUrl(session) };
}

/** Idempotent for sessions that already ended; unknown ids are an error. */
function terminateSession(body: Record<string, unknown>, options: SsmApiOptions): Record<string, unknown> {
  const sessionId = requireString(body, 'SessionId');
  const session = options.registry.get(sessionId);
  if (!session) throw new ApiError('DoesNotExistException', 400, `Session ${sessionId} does not exist.`);
  options.gateway.terminate(session);
  return { SessionId: session.sessionId };
}

function requireString(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== 'string' || value.length === 0) {
    throw new ApiError(
      'ValidationException',
      400,
      `1 validation error detected: Value at '${key}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

/** Document parameters: a map of string lists, e.g. {"portNumber": ["80"]}. */
function readParameters(value: unknown): Record<string, string[]> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError('SerializationException', 400, 'Parameters must be an object.');
  }
  const parameters: Record<string, string[]> = {};
  for (const [name, list] of Object.entries(value)) {
    if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
      throw new ApiError('SerializationException', 400, `Parameter ${name} must be a list of strings.`);
    }
    parameters[name] = list as string[];
  }
  return parameters;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError('SerializationException', 413, 'Request body too large.'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': JSON_11,
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
  });
  res.end(text);
}
