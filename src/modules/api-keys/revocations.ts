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
  const subscriber = redis.duplicate();
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
  await subscriber.subscribe(channel);

  return {
    async publish(keyId) {
      const ackKey = `${channel}:ack:${randomUUID()}`;
      const receivers = await redis.publish(channel, JSON.stringify({ keyId, ackKey }));
      const deadline = Date.now() + ACK_TIMEOUT_MS;
      while ((await redis.llen(ackKey)) < receivers) {
        if (Date.now() > deadline) {
          log.warn({ keyId, receivers }, 'not every instance acknowledged a key revocation in time');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, ACK_POLL_MS));
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
