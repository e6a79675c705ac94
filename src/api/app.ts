import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { JobService } from '../jobs/jobService.ts';
import type { DatasetStore } from '../storage/datasetStore.ts';
import { authPlugin } from './auth.ts';
import { ApiError, ErrorResponse, errorHandler } from './errors.ts';
import { datasetRoutes } from './routes/datasets.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { modelRoutes } from './routes/models.ts';
import { sharedSchemas } from './schemas.ts';

export interface Services {
  config: Config;
  store: DatasetStore;
  jobs: JobService;
  redis: Redis;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

export const API_VERSION = '0.1.0';

/**
 * Builds the HTTP application around already-opened services. Tests call it with their own services
 * and use `inject` or `listen({ port: 0 })`; `npm start` calls it from main.ts.
 */
export async function buildApp(
  services: Services,
  options: { logger?: boolean } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger === false ? false : { level: services.config.logLevel },
    // Routes that stream bodies enforce MAX_UPLOAD_BYTES themselves; this caps buffered JSON bodies.
    bodyLimit: 16 * 1024 * 1024,
    ajv: { customOptions: { coerceTypes: 'array', useDefaults: true, removeAdditional: false } },
    requestIdHeader: 'x-request-id',
    // `/v1/datasets` and `/v1/datasets/` are one route; the OpenAPI document names the first.
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('services', services);
  // Long-polls would hold a graceful shutdown for up to their waitSeconds: answer them first.
  app.addHook('preClose', async () => services.jobs.releaseWaiters());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request) => {
    throw new ApiError(404, 'ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
  });
  app.addSchema(ErrorResponse);
  for (const schema of sharedSchemas) app.addSchema(schema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'rxserve',
        version: API_VERSION,
        description:
          'Chunked, distributed analytics over HTTP: upload datasets, submit analysis jobs, poll them and read results.',
      },
      security: [{ bearer: [] }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS' },
        },
      },
      tags: [
        { name: 'datasets', description: 'Upload, inspect, export and delete chunked datasets' },
        { name: 'jobs', description: 'Submit analyses, follow their progress, read results' },
        { name: 'models', description: 'Fitted models: list, inspect, delete, score JSON rows' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes);
  await app.register(
    async (v1) => {
      await v1.register(authPlugin);
      await v1.register(datasetRoutes, { prefix: '/datasets' });
      await v1.register(jobRoutes, { prefix: '/jobs' });
      await v1.register(modelRoutes, { prefix: '/models' });
    },
    { prefix: '/v1' },
  );
  return app;
}
