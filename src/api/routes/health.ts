import { randomBytes } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

const Checks = Type.Object({
  redis: Type.String({ description: '"ok" or what failed' }),
  dataDir: Type.String({ description: '"ok" or what failed' }),
});

async function check(probe: () => Promise<unknown>): Promise<string> {
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 2 s')), 2000).unref()),
    ]);
    return 'ok';
  } catch (error) {
    return (error as Error).message || 'failed';
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is up',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Redis answers and the data folder is writable',
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Checks }),
          503: Type.Object({ status: Type.Literal('unavailable'), checks: Checks }),
        },
      },
    },
    async (_request, reply) => {
      const { redis, config } = app.services;
      const probeFile = path.join(config.dataDir, `.ready-${randomBytes(4).toString('hex')}`);
      const checks = {
        redis: await check(() => redis.ping()),
        dataDir: await check(async () => {
          await writeFile(probeFile, 'ok');
          await unlink(probeFile);
        }),
      };
      if (checks.redis === 'ok' && checks.dataDir === 'ok') return { status: 'ready' as const, checks };
      return reply.status(503).send({ status: 'unavailable' as const, checks });
    },
  );
};
