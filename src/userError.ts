/**
 * An error in what a user sent: the request, the data or the params. Every layer raises it (or a
 * subclass) with a stable `code`; the API answers `status` with the common error shape, and the job
 * runner stores code and message on the failed job. Anything else that escapes is a bug (500).
 */
export class UserError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'UserError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}
