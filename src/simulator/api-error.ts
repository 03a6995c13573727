/** An error the simulated AWS APIs return as an AWS JSON 1.1 error document. */
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

/** An optional string member of a request body: absent or null is undefined, anything else not a string is refused. */
export function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ApiError('SerializationException', 400, `${key} must be a string.`);
  return value;
}
