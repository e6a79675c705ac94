import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from './errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant the request acts for: from its API key, or `local` in single-user mode. */
    tenant: string;
  }
}

/** The tenant of single-user local mode (no API_KEYS). */
export const LOCAL_TENANT = 'local';

function tenantOf(request: FastifyRequest, keys: Map<string, string>): string {
  if (keys.size === 0) return LOCAL_TENANT;
  const header = request.headers.authorization;
  if (!header) {
    throw new ApiError(
      401,
      'UNAUTHORIZED',
      'missing Authorization header: send Authorization: Bearer <api key>',
    );
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const tenant = match?.[1] ? keys.get(match[1]) : undefined;
  if (!tenant) throw new ApiError(401, 'UNAUTHORIZED', 'unknown API key');
  return tenant;
}

/** Resolves every /v1 request's tenant before its handler runs; resources of other tenants are 404. */
export const authPlugin = fp(async (app: FastifyInstance) => {
  const keys = app.services.config.apiKeys;
  app.decorateRequest('tenant', '');
  app.addHook('onRequest', async (request) => {
    request.tenant = tenantOf(request, keys);
  });
});
