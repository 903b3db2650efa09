/**
 * The catalog cache port. An entry records the catalog version it was read at (catalog_state.version);
 * once a write announces a newer version, older entries are never served again.
 */
export type CacheEntry<T> = { version: string; etag: string; value: T };

export interface CatalogCache {
  get<T>(key: string): Promise<CacheEntry<T> | undefined>;
  /** Stores an entry unless a newer version has been announced since it was read. */
  set<T>(key: string, entry: CacheEntry<T>): Promise<void>;
  /** Announces a committed write; resolves once no instance will serve an older entry. */
  invalidate(version: string): Promise<void>;
  close(): Promise<void>;
}

export const isOlder = (version: string, than: bigint) => BigInt(version) < than;

/** In-process only: for a single instance, and the first level of the Redis adapter. */
export function createMemoryCatalogCache({ maxEntries = 10_000 } = {}): CatalogCache & { clear(): void } {
  const entries = new Map<string, CacheEntry<unknown>>();
  let latest = 0n;
  return {
    async get<T>(key: string) {
      const entry = entries.get(key);
      if (entry && isOlder(entry.version, latest)) {
        entries.delete(key);
        return undefined;
      }
      return entry as CacheEntry<T> | undefined;
    },
    async set(key, entry) {
      if (isOlder(entry.version, latest)) return;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(key, entry);
    },
    async invalidate(version) {
      const announced = BigInt(version);
      if (announced > latest) latest = announced;
      entries.clear();
    },
    clear() {
      entries.clear();
    },
    async close() {},
  };
}
