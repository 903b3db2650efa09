import type { MaybePromise } from '../shared/sync-first.js';

/**
 * The catalog cache port. An entry records the catalog version it was read at (catalog_state.version);
 * once a write announces a newer version, older entries are never served again.
 */
export type CacheEntry<T> = { version: string; etag: string; value: T };

export interface CatalogCache {
  /** At once when the entry is in this process's memory; a promise when it must be fetched. */
  get<T>(key: string): MaybePromise<CacheEntry<T> | undefined>;
  /** Stores an entry unless a newer version has been announced since it was read. */
  set<T>(key: string, entry: CacheEntry<T>): Promise<void>;
  /** Announces a committed write; resolves once no instance will serve an older entry. */
  invalidate(version: string): Promise<void>;
  /**
   * The version PostgreSQL holds, read by this instance's own poll: entries older than it are dropped here
   * (and in the shared level), without announcing anything to other instances, which poll too.
   */
  observe(version: string): Promise<void>;
  /** Whether a newer version than this one has been announced to or observed by this instance. */
  isStale(version: string): boolean;
  close(): Promise<void>;
}

export const isOlder = (version: string, than: bigint) => BigInt(version) < than;

export interface MemoryCatalogCache extends CatalogCache {
  get<T>(key: string): CacheEntry<T> | undefined;
  clear(): void;
}

/** In-process only: for a single instance, and the first level of the Redis adapter. */
export function createMemoryCatalogCache({ maxEntries = 10_000 } = {}): MemoryCatalogCache {
  const entries = new Map<string, CacheEntry<unknown>>();
  let latest = 0n;
  return {
    // Nothing older than `latest` is ever held: `set` refuses it, and a newer version clears the rest.
    get<T>(key: string) {
      return entries.get(key) as CacheEntry<T> | undefined;
    },
    async set(key, entry) {
      if (isOlder(entry.version, latest)) return;
      // Read at a committed version newer than any held: a write this instance was not told of came in
      // between, so the older entries go as they would at its announcement (a later poll finds nothing new).
      await this.observe(entry.version);
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(key, entry);
    },
    async invalidate(version) {
      const announced = BigInt(version);
      if (announced > latest) latest = announced;
      entries.clear();
    },
    async observe(version) {
      if (BigInt(version) > latest) await this.invalidate(version);
    },
    isStale(version) {
      return isOlder(version, latest);
    },
    clear() {
      entries.clear();
    },
    async close() {},
  };
}
