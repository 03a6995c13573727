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
