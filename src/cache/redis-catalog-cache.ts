import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { type Broadcast, createRedisBroadcast } from '../redis-broadcast.js';
import { type CacheEntry, type CatalogCache, createMemoryCatalogCache, isOlder } from './catalog-cache.js';

const ENTRY_TTL_MS = 3_600_000;

// Store an entry only if no newer version was announced while it was being read from PostgreSQL.
const SET_IF_CURRENT = `
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) >= latest then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1`;

// Versions only grow, whatever order two writers' announcements arrive in.
const RAISE_VERSION = `
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > latest then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;

/**
 * Two levels: an in-process map, trusted only while this instance hears every invalidation, and Redis,
 * shared by all instances. A write raises the version in Redis, then broadcasts it and waits until every
 * instance has dropped its older entries. Redis errors fall through to PostgreSQL, never to a 500.
 */
export function createRedisCatalogCache({
  redis,
  prefix,
  broadcast,
}: {
  redis: Redis;
  prefix: string;
  broadcast: Broadcast<string>;
}): CatalogCache {
  const local = createMemoryCatalogCache();
  const versionKey = `${prefix}catalog:version`;
  const entryKey = (key: string) => `${prefix}catalog:entry:${key}`;
  broadcast.subscribe((version) => void local.invalidate(version));
  // Messages may have been missed: nothing held locally can be trusted.
  broadcast.onGap(() => local.clear());

  async function fetchShared<T>(key: string): Promise<CacheEntry<T> | undefined> {
    try {
      const [latest, raw] = await redis.mget(versionKey, entryKey(key));
      if (!raw) return undefined;
      const entry = JSON.parse(raw) as CacheEntry<T>;
      if (isOlder(entry.version, BigInt(latest ?? '0'))) return undefined;
      if (broadcast.isListening()) await local.set(key, entry);
      return entry;
    } catch {
      return undefined;
    }
  }

  return {
    get<T>(key: string) {
      if (broadcast.isListening()) {
        const hit = local.get<T>(key);
        if (hit) return hit;
      }
      return fetchShared<T>(key);
    },
    async set(key, entry) {
      if (broadcast.isListening()) await local.set(key, entry);
      await redis
        .eval(
          SET_IF_CURRENT,
          2,
          versionKey,
          entryKey(key),
          entry.version,
          JSON.stringify(entry),
          ENTRY_TTL_MS,
        )
        .catch(() => {});
    },
    async invalidate(version) {
      await local.invalidate(version);
      await redis.eval(RAISE_VERSION, 1, versionKey, version).catch(() => {});
      await broadcast.publish(version);
    },
    // A write whose announcement never reached this instance (the writer lost Redis, or this instance's
    // subscription missed it while still listening) is found here, within one poll.
    isStale(version) {
      return local.isStale(version);
    },
    async observe(version) {
      await local.observe(version);
      await redis.eval(RAISE_VERSION, 1, versionKey, version).catch(() => {});
    },
    close: () => broadcast.close(),
  };
}

/** The catalog cache an instance uses: shared through Redis when it has one, in-process otherwise. */
export async function createCatalogCache({
  redis,
  prefix,
  log,
}: {
  redis: Redis | undefined;
  prefix: string;
  log: FastifyBaseLogger;
}): Promise<CatalogCache> {
  if (!redis) return createMemoryCatalogCache();
  const channel = `${prefix}catalog:changed`;
  return createRedisCatalogCache({
    redis,
    prefix,
    broadcast: await createRedisBroadcast<string>({ redis, channel, log }),
  });
}
