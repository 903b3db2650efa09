import type { Redis } from 'ioredis';
import type { RateWindow } from './rate-limit-store.js';

/** One counter's current window, as this instance knows it. */
type Bucket = {
  windowEnd: number;
  /** Hits this instance counted in the window. */
  used: number;
  /** Tokens Redis granted this instance: hits up to this many are admitted without asking. */
  granted: number;
  /** Tokens this instance asked for (a refused or partial lease still adds its whole chunk in Redis). */
  requested: number;
  /** Every instance's requests in Redis at the last lease, less this instance's: the others' share. */
  others: number;
  /** No token is left in Redis for this window: every further hit is over the limit. */
  exhausted: boolean;
  lease: Promise<void> | undefined;
};

export type LeaseEvents = { failed(error: unknown): void; succeeded(): void };

/** A lease takes this share of a limit at a time (at least one token). */
const CHUNK_SHARE = 20;
/** Below this chunk, tokens are leased only when needed: a small limit stays exact across instances. */
const MIN_PREFETCH_CHUNK = 4;
/**
 * After a lease fails, hits that need a token are counted in process at once for this long, and then one
 * lease in the background asks whether Redis answers again: a Redis that holds the connection open but
 * never answers would otherwise cost every such hit the command timeout.
 */
const AFTER_FAILURE_MS = 2000;

/**
 * Fixed windows aligned on the clock, shared by every instance through Redis without a round trip per hit.
 * An instance leases tokens from the window's counter in Redis, a twentieth of the limit at a time
 * (INCRBY: atomic, so two instances never get the same tokens), and admits hits against them in process.
 * Leasing the next chunk starts in the background when half of the current one is spent, so a steady flow
 * of hits waits for Redis once per counter and window. No instance admits a hit without a token, so
 * together they admit at most the limit; an instance's unspent tokens are lost to the others, so near the
 * limit a hit may be refused up to a chunk per other instance early. Alone, an instance is exact.
 */
export class LeasedCounters {
  readonly #buckets = new Map<string, Bucket>();
  /** 0 while leases succeed; after a failure, when the next background lease may ask Redis again. */
  #retryAt = 0;

  constructor(
    readonly redis: Redis,
    readonly keyPrefix: string,
    readonly capacity: number,
    readonly events: LeaseEvents,
    readonly now: () => number = Date.now,
  ) {}

  /** `fallback` answers the hits whose lease failed (Redis away): in-process counting. */
  hit(
    key: string,
    windowMs: number,
    max: number,
    fallback: () => RateWindow,
  ): RateWindow | Promise<RateWindow> {
    const now = this.now();
    const windowEnd = (Math.floor(now / windowMs) + 1) * windowMs;
    const bucket = this.#bucket(key, windowEnd);
    bucket.used += 1;
    const ordinal = bucket.used;
    const chunk = Math.max(1, Math.ceil(max / CHUNK_SHARE));
    if (ordinal <= bucket.granted || bucket.exhausted) {
      this.#prefetch(key, bucket, chunk, max);
      return this.#window(bucket, ordinal, max, now);
    }
    if (this.#retryAt !== 0) {
      if (now >= this.#retryAt && !bucket.lease) {
        this.#retryAt = now + AFTER_FAILURE_MS;
        bucket.lease = this.#lease(key, bucket, chunk, max);
        bucket.lease.catch(() => {});
      }
      return fallback();
    }
    return this.#admitAfterLease(key, bucket, ordinal, chunk, max, fallback);
  }

  async #admitAfterLease(
    key: string,
    bucket: Bucket,
    ordinal: number,
    chunk: number,
    max: number,
    fallback: () => RateWindow,
  ): Promise<RateWindow> {
    try {
      while (ordinal > bucket.granted && !bucket.exhausted) {
        bucket.lease ??= this.#lease(key, bucket, chunk, max);
        await bucket.lease;
      }
    } catch {
      return fallback();
    }
    this.#prefetch(key, bucket, chunk, max);
    return this.#window(bucket, ordinal, max, this.now());
  }

  #prefetch(key: string, bucket: Bucket, chunk: number, max: number) {
    const spare = bucket.granted - bucket.used;
    if (chunk < MIN_PREFETCH_CHUNK || bucket.exhausted || bucket.lease || spare > chunk / 2) return;
    // A failed prefetch is retried by the next hit that needs a token.
    bucket.lease = this.#lease(key, bucket, chunk, max);
    bucket.lease.catch(() => {});
  }

  async #lease(key: string, bucket: Bucket, chunk: number, max: number): Promise<void> {
    const redisKey = `${this.keyPrefix}${key}:${bucket.windowEnd}`;
    const ttlMs = Math.max(1000, bucket.windowEnd - this.now() + 1000);
    try {
      const results = await this.redis.multi().incrby(redisKey, chunk).pexpire(redisKey, ttlMs, 'NX').exec();
      const [error, total] = results?.[0] ?? [new Error('the lease was not answered'), null];
      if (error) throw error;
      const before = Number(total) - chunk;
      const grant = Math.min(chunk, Math.max(0, max - before));
      bucket.requested += chunk;
      bucket.granted += grant;
      bucket.others = Number(total) - bucket.requested;
      if (grant < chunk) bucket.exhausted = true;
      this.#retryAt = 0;
      this.events.succeeded();
    } catch (error) {
      this.#retryAt = this.now() + AFTER_FAILURE_MS;
      this.events.failed(error);
      throw error;
    } finally {
      bucket.lease = undefined;
    }
  }

  #window(bucket: Bucket, ordinal: number, max: number, now: number): RateWindow {
    const admitted = ordinal <= bucket.granted;
    const count = bucket.others + ordinal;
    return {
      count: admitted ? Math.min(count, max) : Math.max(count, max + 1),
      ttlMs: bucket.windowEnd - now,
    };
  }

  #bucket(key: string, windowEnd: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket !== undefined) this.#buckets.delete(key);
    else if (this.#buckets.size >= this.capacity) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
    if (bucket === undefined || bucket.windowEnd !== windowEnd) {
      bucket = {
        windowEnd,
        used: 0,
        granted: 0,
        requested: 0,
        others: 0,
        exhausted: false,
        lease: undefined,
      };
    }
    this.#buckets.set(key, bucket);
    return bucket;
  }
}
