import type { Broadcast } from '../../redis-broadcast.js';

/** Tells every instance to forget a revoked key; `publish` resolves once they all have. */
export interface RevocationBus {
  publish(keyId: string): Promise<void>;
  subscribe(listener: (keyId: string | null) => void): void;
  /** Whether a revocation published anywhere would reach this instance now. */
  isListening(): boolean;
  close(): Promise<void>;
}

/** One process: the listeners are this instance's caches. */
export function createLocalRevocationBus(): RevocationBus {
  const listeners: ((keyId: string | null) => void)[] = [];
  return {
    async publish(keyId) {
      for (const listener of listeners) listener(keyId);
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    isListening: () => true,
    async close() {},
  };
}

/**
 * Revocations over an acknowledged Redis broadcast: a DELETE returns once every instance has evicted the
 * key. When this instance may have missed messages (Redis away), it forgets every cached key (null).
 * If the broadcast cannot be confirmed, the key is still revoked in the database, and other instances
 * drop it when their cache entry expires.
 */
export function createRedisRevocationBus(broadcast: Broadcast<string>): RevocationBus {
  return {
    async publish(keyId) {
      await broadcast.publish(keyId);
    },
    subscribe(listener) {
      broadcast.subscribe(listener);
      broadcast.onGap(() => listener(null));
    },
    isListening: () => broadcast.isListening(),
    close: () => broadcast.close(),
  };
}
