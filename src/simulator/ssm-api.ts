import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { findDocument, DEFAULT_DOCUMENT, type SessionDocument } from './agent/documents.ts';
import type { FaultInjector } from './faults.ts';
import type { Gateway } from './gateway.ts';
import type { SessionRegistry, SessionSpec, SimSession } from './sessions.ts';

/** One request to the simulated SSM API, in arrival order. */
export interface ApiCall {
  time: number;
  /** e.g. `StartSession`; the raw X-Amz-Target when it is not an AmazonSSM operation. */
  operation: string;
  /** Parsed JSON body (undefined when it did not parse). */
  body: unknown;
  status: number;
  /** The AWS error type returned, if any. */
  errorType?: string;
}

export interface SsmApiOptions {
  registry: SessionRegistry;
  gateway: Gateway;
  faults: FaultInjector;
  apiCalls: ApiCall[];
  /** Builds the session (and its agent) for a validated StartSession. */
  createSession: (spec: SessionSpec, document: SessionDocument) => SimSession;
  streamUrl: (session: SimSession) => string;
  /** Well-formed targets that answer TargetNotConnected. */
  disconnectedTargets: ReadonlySet<string>;
}

/** An error the API returns as an AWS JSON 1.1 error document. */
export class ApiError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.type = type;
    this.status = status;
  }
}

const JSON_11 = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'AmazonSSM.';
const MAX_BODY_BYTES = 1024 * 1024;
/** EC2 and hybrid instance ids, and the ECS exec form `ecs:<cluster>_<task>_<runtimeId>` (§1.5). */
const TARGET_PATTERN = /^(?:(?:i|mi)-[0-9a-f]{8}(?:[0-9a-f]{9})?|ecs:[\w.-]+_[\w.-]+_[\w.-]+)$/;

type Operation = (body: Record<string, unknown>, options: SsmApiOptions) => Record<string, unknown>;

const operations: Record<string, Operation> = {
  StartSession: startSession,
  ResumeSession: resumeSession,
  TerminateSession: terminateSession,
};

/**
 * HTTP handler for the three SSM operations the plugin world uses. Any request with a
 * SigV4 Authorization header is accepted (the signature is not checked).
 */
export function createSsmApiHandler(options: SsmApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(req, res, options);
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: SsmApiOptions): Promise<void> {
  const amzTarget = String(req.headers['x-amz-target'] ?? '');
  const operation = amzTarget.startsWith(TARGET_PREFIX) ? amzTarget.slice(TARGET_PREFIX.length) : amzTarget;
  const call: ApiCall = { time: Date.now(), operation, body: undefined, status: 200 };
  options.apiCalls.push(call);
  let result: Record<string, unknown>;
  try {
    const raw = await readBody(req);
    call.body = parseJson(raw);
    result = dispatch(req, raw, call.body, operation, amzTarget, options);
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

function dispatch(
  req: IncomingMessage,
  raw: Buffer,
  body: unknown,
  operation: string,
  amzTarget: string,
  options: SsmApiOptions,
): Record<string, unknown> {
  const authorization = String(req.headers.authorization ?? '');
  if (!authorization.startsWith('AWS4-HMAC-SHA256 ')) {
    throw new ApiError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token');
  }
  const handler = amzTarget.startsWith(TARGET_PREFIX) ? operations[operation] : undefined;
  if (req.method !== 'POST' || !handler) {
    throw new ApiError('UnknownOperationException', 400, `Unknown operation ${amzTarget || '(none)'}`);
  }
  if (raw.length > 0 && (body === null || typeof body !== 'object' || Array.isArray(body))) {
    throw new ApiError('SerializationException', 400, 'Request body is not a JSON object.');
  }
  return handler((body ?? {}) as Record<string, unknown>, options);
}

function startSession(body: Record<string, unknown>, options: SsmApiOptions): Record<string, unknown> {
  const target = requireString(body, 'Target');
  if (!TARGET_PATTERN.test(target)) throw new ApiError('InvalidTarget', 400, `Invalid target: ${target}`);
  if (options.disconnectedTargets.has(target)) {
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

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ApiError('SerializationException', 400, `${key} must be a string.`);
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
