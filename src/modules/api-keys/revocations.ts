import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

/** Tells every instance to forget a revoked key; `publish` resolves once they all have. */
export interface RevocationBus {
  publish(keyId: string): Promise<void>;
  subscribe(listener: (keyId: string) => void): void;
  close(): Promise<void>;
}

/** One process: the listeners are this instance's caches. */
export function createLocalRevocationBus(): RevocationBus {
  const listeners: ((keyId: string) => void)[] = [];
  return {
    async publish(keyId) {
      for (const listener of listeners) listener(keyId);
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    async close() {},
  };
}

const ACK_TIMEOUT_MS = 2000;
const ACK_POLL_MS = 5;
const SUBSCRIBE_WAIT_MS = 2000;

/**
 * Redis pub/sub with acknowledgements: PUBLISH says how many instances are subscribed; each one evicts the
 * key and then pushes to a per-message list, and the publisher waits until all have answered, so a
 * revocation is in force everywhere before the DELETE that asked for it returns.
 */
export async function createRedisRevocationBus({
  redis,
  channel,
  log,
}: {
  redis: Redis;
  channel: string;
  log: FastifyBaseLogger;
}): Promise<RevocationBus> {
  // Subscriptions wait for the connection (and are renewed after a reconnect) instead of failing fast.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
  subscriber.on('error', () => {}); // the main client already reports the outage, once
  const listeners: ((keyId: string) => void)[] = [];
  subscriber.on('message', (_channel: string, message: string) => {
    const { keyId, ackKey } = JSON.parse(message) as { keyId: string; ackKey: string };
    for (const listener of listeners) listener(keyId);
    redis
      .multi()
      .rpush(ackKey, '1')
      .pexpire(ackKey, ACK_TIMEOUT_MS * 5)
      .exec()
      .catch((error: unknown) => log.warn({ err: error }, 'could not acknowledge a key revocation'));
  });
  // Redis down at start-up must not stop the service: wait a little, then go on without it.
  await Promise.race([
    subscriber.subscribe(channel).catch(() => {}),
    new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref()),
  ]);

  return {
    async publish(keyId) {
      for (const listener of listeners) listener(keyId);
      try {
        const ackKey = `${channel}:ack:${randomUUID()}`;
        const receivers = await redis.publish(channel, JSON.stringify({ keyId, ackKey }));
        const deadline = Date.now() + ACK_TIMEOUT_MS;
        while ((await redis.llen(ackKey)) < receivers) {
          if (Date.now() > deadline) throw new Error(`${receivers} instances were told, not all answered`);
          await new Promise((resolve) => setTimeout(resolve, ACK_POLL_MS));
        }
      } catch (error) {
        // The key is revoked in the database already; other instances drop it when their cache entry expires.
        log.warn({ err: error, keyId }, 'could not confirm the revocation on every instance');
      }
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    async close() {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
