import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { UserError } from '../userError.ts';

/** The one error shape every route answers with (DESIGN.md, "HTTP API conventions"). */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, e.g. UNKNOWN_VARIABLE' }),
      message: Type.String({ description: 'What went wrong and what to change' }),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { $id: 'Error', description: 'Error' },
);

/** An error a route raises on purpose; the error handler turns it into the common shape. */
export class ApiError extends UserError {
  override name = 'ApiError';
}

export const notFound = (what: string, id: string): ApiError =>
  new ApiError(404, 'NOT_FOUND', `${what} '${id}' does not exist (or belongs to another tenant)`);

interface Mapped {
  status: number;
  code: string;
  message: string;
  details?: Record<string, unknown> | undefined;
}

/** Fastify's own error codes that stem from the request, mapped to ours. */
const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'EMPTY_BODY' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_CONTENT_LENGTH' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_FILES_LIMIT: { status: 400, code: 'TOO_MANY_FILES' },
  FST_PARTS_LIMIT: { status: 400, code: 'TOO_MANY_PARTS' },
};

/** ioredis gives up on a command when the connection is down: a dependency outage (503), not a bug. */
function isRedisDown(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|Stream isn't writeable/.test(error.message)
  );
}

function mapError(error: unknown): Mapped {
  if (error instanceof UserError) {
    return { status: error.status, code: error.code, message: error.message, details: error.details };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const fields = fastifyError.validation.map((v) => ({
      field:
        `${fastifyError.validationContext ?? ''}${v.instancePath}` || fastifyError.validationContext || '',
      message: v.message ?? 'is invalid',
      ...(v.params && 'missingProperty' in v.params ? { missing: v.params['missingProperty'] } : {}),
      ...(v.params && 'additionalProperty' in v.params ? { unexpected: v.params['additionalProperty'] } : {}),
    }));
    return { status: 400, code: 'VALIDATION_FAILED', message: fastifyError.message, details: { fields } };
  }
  if (fastifyError instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return {
      status: 400,
      code: 'INVALID_JSON',
      message: `request body is not valid JSON: ${fastifyError.message}`,
    };
  }
  if (isRedisDown(error)) {
    return {
      status: 503,
      code: 'DEPENDENCY_UNAVAILABLE',
      message: 'Redis does not answer; try again shortly',
    };
  }
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) return { ...known, message: fastifyError.message };
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, code: fastifyError.code ?? 'BAD_REQUEST', message: fastifyError.message };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error; the server log has the details' };
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const mapped = mapError(error);
  if (mapped.status >= 500) request.log.error({ err: error }, 'request failed');
  const body: { error: { code: string; message: string; details?: Record<string, unknown> } } = {
    error: { code: mapped.code, message: mapped.message },
  };
  if (mapped.details) body.error.details = mapped.details;
  void reply.status(mapped.status).send(body);
}
