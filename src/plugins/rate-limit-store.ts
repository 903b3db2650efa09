import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { LeasedCounters } from './leased-counters.js';

/** One fixed window of a counter: the hits so far and the milliseconds until it starts over. */
export type RateWindow = { count: number; ttlMs: number };

/** Fixed-window counters, shared by every instance when Redis is configured. */
export interface RateLimitStore {
  /**
   * Counts one hit against `key`, whose limit is `max` a window, and returns its window, this hit counted:
   * at once in process, and at once with Redis while this instance holds tokens of the window.
   */
  hit(key: string, windowMs: number, max: number): RateWindow | Promise<RateWindow>;
}

// Bounds the memory an address flood can take in process; the least recently seen counters go first.
const LOCAL_COUNTERS = 20_000;

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

/**
 * Counts in Redis when it is given and answering, in process otherwise: an outage weakens the limits to
 * per instance, never removes them, and Redis takes over again on the first lease that succeeds.
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
  let isFallingBack = false;
  const shared = redis
    ? new LeasedCounters(redis, keyPrefix, LOCAL_COUNTERS, {
        failed(error) {
          // Once per outage: a slow or failing Redis would otherwise log on every request.
          if (!isFallingBack) log.warn({ err: error }, 'rate limits fall back to in-process counters');
          isFallingBack = true;
        },
        succeeded() {
          isFallingBack = false;
        },
      })
    : undefined;

  return {
    hit(key, windowMs, max) {
      // While the client is reconnecting, commands fail at once; createRedis has already warned.
      if (!shared || redis?.status !== 'ready') return local.hit(key, windowMs);
      return shared.hit(key, windowMs, max, () => local.hit(key, windowMs));
    },
  };
}
