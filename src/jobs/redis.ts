import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection. BullMQ's blocking workers need `maxRetriesPerRequest: null` (they wait on
 * blocking commands indefinitely); request-serving connections keep a bound so a Redis outage surfaces
 * as an error instead of a hung request.
 */
export function connectRedis(url: string, purpose: 'bullmq' | 'commands'): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: purpose === 'bullmq' ? null : 3,
    enableReadyCheck: true,
    lazyConnect: false,
  };
  return new Redis(url, options);
}
