/**
 * An error in what the user asked for, raised by the engine while planning an analysis (unknown
 * variable, wrong type, bad formula). The API maps it to its HTTP status and the common error shape;
 * the job runner stores it on the failed job. `status` 400 = malformed request, 422 = well-formed but
 * not computable on this data.
 */
export class EngineError extends Error {
  readonly code: string;
  readonly status: 400 | 422;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, status: 400 | 422 = 400, details?: Record<string, unknown>) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}
