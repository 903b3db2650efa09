import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';

/**
 * A Redis client that fails fast instead of queueing while Redis is away (callers fall back to in-process
 * state), reconnects by itself, and warns once per outage rather than once per command.
 */
export function createRedis(url: string, log: FastifyBaseLogger): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  let isDown = false;
  redis.on('error', (error: Error) => {
    if (isDown) return;
    isDown = true;
    log.warn({ err: error }, 'Redis is unavailable; using in-process fallbacks until it returns');
  });
  redis.on('ready', () => {
    if (!isDown) return;
    isDown = false;
    log.info('Redis is back');
  });
  return redis;
}
