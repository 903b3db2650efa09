import { createRequire } from 'node:module';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

/** One fixed window of a counter: the hits so far and the milliseconds until it starts over. */
export type RateWindow = { count: number; ttlMs: number };

/** Fixed-window counters, shared by every instance when Redis is configured. */
export interface RateLimitStore {
  /** Counts one hit against `key` and returns its window, counting this hit (at once when in process). */
  hit(key: string, windowMs: number): RateWindow | Promise<RateWindow>;
  /** Reads `key`'s window without counting; an unknown or expired key reads as empty. */
  peek(key: string, windowMs: number): RateWindow | Promise<RateWindow>;
}

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;
type CounterStore = {
  incr(key: string, callback: Callback, windowMs: number, max: number): void;
  read(key: string, callback: Callback, windowMs: number, max: number): void;
};

// The plugin's own stores (an LRU in process; one Lua INCR + PEXPIRE in Redis) are not exported and have
// no typings, so they are loaded by path and given the small interface this file uses.
const require = createRequire(import.meta.url);
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  cacheSize: number,
) => CounterStore;
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  redis: Redis,
  keyPrefix: string,
) => CounterStore;

// Bounds the memory an address flood can take in process; the least recently seen counters go first.
const LOCAL_COUNTERS = 20_000;
// The stores take `max` only for back-off modes we do not use.
const UNUSED_MAX = 0;

// The in-process store calls back, never with an error, before it returns: no promise per request for it.
function callLocal(store: CounterStore, method: 'incr' | 'read', key: string, windowMs: number): RateWindow {
  let window: RateWindow | undefined;
  store[method](key, (_error, result) => (window = toWindow(result)), windowMs, UNUSED_MAX);
  if (!window) throw new Error('the in-process rate-limit store did not answer at once');
  return window;
}

function toWindow(result: { current: number; ttl: number } | undefined): RateWindow | undefined {
  return result && { count: result.current, ttlMs: result.ttl };
}

function call(store: CounterStore, method: 'incr' | 'read', key: string, windowMs: number) {
  return new Promise<RateWindow>((resolve, reject) => {
    store[method](
      key,
      (error, result) => {
        const window = toWindow(result);
        if (error || !window) reject(error ?? new Error('the rate-limit store returned nothing'));
        else resolve(window);
      },
      windowMs,
      UNUSED_MAX,
    );
  });
}

/**
 * Counts in Redis when it is given and answering, in process otherwise: an outage weakens the limits to
 * per instance, never removes them, and Redis takes over again on the first call that succeeds.
 */
export function createRateLimitStore({
  redis,
  keyPrefix,
  log,
}: {
  redis?: Redis | undefined;
  keyPrefix: string;
  log: FastifyBaseLogger;
}): RateLimitStore {
  const local = new LocalStore(false, false, LOCAL_COUNTERS);
  const shared = redis ? new RedisStore(false, false, redis, keyPrefix) : undefined;
  let isFallingBack = false;

  function count(method: 'incr' | 'read', key: string, windowMs: number): RateWindow | Promise<RateWindow> {
    // While the client is reconnecting, commands fail at once; createRedis has already warned.
    if (!shared || redis?.status !== 'ready') return callLocal(local, method, key, windowMs);
    return countShared(shared, method, key, windowMs);
  }

  async function countShared(shared: CounterStore, method: 'incr' | 'read', key: string, windowMs: number) {
    try {
      const window = await call(shared, method, key, windowMs);
      isFallingBack = false;
      return window;
    } catch (error) {
      // Once per outage: a slow or failing Redis would otherwise log on every request.
      if (!isFallingBack) log.warn({ err: error }, 'rate limits fall back to in-process counters');
      isFallingBack = true;
      return callLocal(local, method, key, windowMs);
    }
  }

  return {
    hit: (key, windowMs) => count('incr', key, windowMs),
    peek: (key, windowMs) => count('read', key, windowMs),
  };
}
