import { createRequire } from 'node:module';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

/** One fixed window of a counter: the hits so far and the milliseconds until it starts over. */
export type RateWindow = { count: number; ttlMs: number };

/** Fixed-window counters, shared by every instance when Redis is configured. */
export interface RateLimitStore {
  /** Counts one hit against `key` and returns its window, counting this hit (at once when in process). */
  hit(key: string, windowMs: number): RateWindow | Promise<RateWindow>;
}

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;
type CounterStore = {
  incr(key: string, callback: Callback, windowMs: number, max: number): void;
};

// The plugin's Redis store (one Lua INCR + PEXPIRE) is not exported and has no typings, so it is loaded by
// path and given the small interface this file uses.
const require = createRequire(import.meta.url);
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  redis: Redis,
  keyPrefix: string,
) => CounterStore;

// Bounds the memory an address flood can take in process; the least recently seen counters go first.
const LOCAL_COUNTERS = 20_000;
// The store takes `max` only for back-off modes we do not use.
const UNUSED_MAX = 0;

type LocalWindow = { count: number; resetAt: number };

/**
 * Fixed windows in process, answered at once (no promise, no callback), at most `capacity` of them. A Map
 * iterates in insertion order, so re-inserting a counter at each hit keeps the least recently used first,
 * and that is the one a full map drops. An LRU, not a first-in-first-out bound: a flood of new addresses
 * must not push out, and so reset, the counter of a key that keeps being used.
 *
 * The plugin's own in-process store did the same with a linked-list LRU, a callback and two result objects
 * per call: three counters on every request made it ~3 % of a cached catalog read (docs/performance.md).
 */
export class LocalCounters {
  readonly #windows = new Map<string, LocalWindow>();

  constructor(
    readonly capacity: number,
    readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#windows.size;
  }

  hit(key: string, windowMs: number): RateWindow {
    const now = this.now();
    let window = this.#windows.get(key);
    if (window !== undefined) this.#windows.delete(key);
    else if (this.#windows.size >= this.capacity) this.#dropLeastRecent();
    if (window === undefined || window.resetAt <= now) window = { count: 0, resetAt: now + windowMs };
    window.count += 1;
    this.#windows.set(key, window);
    return { count: window.count, ttlMs: window.resetAt - now };
  }

  #dropLeastRecent(): void {
    const oldest = this.#windows.keys().next();
    if (!oldest.done) this.#windows.delete(oldest.value);
  }
}

function toWindow(result: { current: number; ttl: number } | undefined): RateWindow | undefined {
  return result && { count: result.current, ttlMs: result.ttl };
}

function call(store: CounterStore, key: string, windowMs: number) {
  return new Promise<RateWindow>((resolve, reject) => {
    store.incr(
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
  const local = new LocalCounters(LOCAL_COUNTERS);
  const shared = redis ? new RedisStore(false, false, redis, keyPrefix) : undefined;
  let isFallingBack = false;

  function count(key: string, windowMs: number): RateWindow | Promise<RateWindow> {
    // While the client is reconnecting, commands fail at once; createRedis has already warned.
    if (!shared || redis?.status !== 'ready') return local.hit(key, windowMs);
    return countShared(shared, key, windowMs);
  }

  async function countShared(shared: CounterStore, key: string, windowMs: number) {
    try {
      const window = await call(shared, key, windowMs);
      isFallingBack = false;
      return window;
    } catch (error) {
      // Once per outage: a slow or failing Redis would otherwise log on every request.
      if (!isFallingBack) log.warn({ err: error }, 'rate limits fall back to in-process counters');
      isFallingBack = true;
      return local.hit(key, windowMs);
    }
  }

  return { hit: count };
}
