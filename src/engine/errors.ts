import { UserError } from '../userError.ts';

/**
 * An error in what the user asked for, raised by the engine while planning an analysis (unknown
 * variable, wrong type, bad formula). `status` 400 = malformed request, 422 = well-formed but not
 * computable on this data.
 */
export class EngineError extends UserError {
  declare readonly status: 400 | 422;

  constructor(code: string, message: string, status: 400 | 422 = 400, details?: Record<string, unknown>) {
    super(status, code, message, details);
    this.name = 'EngineError';
  }
}
