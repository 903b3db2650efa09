import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

/** A message to every instance; `publish` resolves true once all of them have handled it. */
export interface Broadcast<T> {
  publish(message: T): Promise<boolean>;
  subscribe(listener: (message: T) => void): void;
  /** False while this instance may be missing messages (not subscribed, or Redis away). */
  isListening(): boolean;
  /** Called whenever messages may have been missed: on a lost subscription and on its return. */
  onGap(listener: () => void): void;
  close(): Promise<void>;
}

const ACK_TIMEOUT_MS = 2000;
const ACK_POLL_MS = 5;
const SUBSCRIBE_WAIT_MS = 2000;

/**
 * Redis pub/sub with acknowledgements: PUBLISH answers how many instances are subscribed; each handles
 * the message, then pushes to a per-message list, and the publisher waits until every one has, so what
 * it announced (a revoked key, a changed catalog) is in force everywhere before the request returns.
 */
export async function createRedisBroadcast<T>({
  redis,
  channel,
  log,
}: {
  redis: Redis;
  channel: string;
  log: FastifyBaseLogger;
}): Promise<Broadcast<T>> {
  // Subscriptions wait for the connection (and are renewed after a reconnect) instead of failing fast.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
  const listeners: ((message: T) => void)[] = [];
  const gapListeners: (() => void)[] = [];
  let listening = false;
  const gap = (nowListening: boolean) => {
    if (listening === nowListening) return;
    listening = nowListening;
    for (const listener of gapListeners) listener();
  };
  subscriber.on('error', () => {}); // the main client reports an outage, once
  subscriber.on('close', () => gap(false));
  // Listening again once Redis confirms the subscription, at start-up and after every reconnection.
  const confirm = () =>
    subscriber.subscribe(channel).then(
      () => gap(true),
      () => {},
    );
  subscriber.on('ready', () => void confirm());
  subscriber.on('message', (_channel: string, raw: string) => {
    const { message, ackKey } = JSON.parse(raw) as { message: T; ackKey: string };
    for (const listener of listeners) listener(message);
    redis
      .multi()
      .rpush(ackKey, '1')
      .pexpire(ackKey, ACK_TIMEOUT_MS * 5)
      .exec()
      .catch((error: unknown) => log.warn({ err: error, channel }, 'could not acknowledge a broadcast'));
  });
  // Redis down at start-up must not stop the service: wait a little, then go on without it.
  await Promise.race([confirm(), new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref())]);

  return {
    async publish(message) {
      for (const listener of listeners) listener(message);
      try {
        const ackKey = `${channel}:ack:${randomUUID()}`;
        const receivers = await redis.publish(channel, JSON.stringify({ message, ackKey }));
        const deadline = Date.now() + ACK_TIMEOUT_MS;
        while ((await redis.llen(ackKey)) < receivers) {
          if (Date.now() > deadline) throw new Error(`${receivers} instances were told, not all answered`);
          await new Promise((resolve) => setTimeout(resolve, ACK_POLL_MS));
        }
        return true;
      } catch (error) {
        log.warn({ err: error, channel }, 'could not confirm a broadcast on every instance');
        return false;
      }
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    isListening: () => listening,
    onGap(listener) {
      gapListeners.push(listener);
    },
    async close() {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
