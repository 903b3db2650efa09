import type { CacheEntry, CatalogCache } from '../../cache/catalog-cache.js';
import type { UnitOfWork } from '../../db/unit-of-work.js';
import type { Principal } from '../../shared/access.js';
import {
  companyExists,
  companyNotFound,
  type FieldError,
  invalidRequest,
  preconditionFailed,
} from '../../shared/errors.js';
import { matchesIfMatch } from '../../shared/etag.js';
import { andThen, type MaybePromise } from '../../shared/sync-first.js';
import type { AuditRepository } from '../audit/index.js';
import type { CatalogRecord, CatalogRepository } from './catalog.repository.js';

export type Versioned<T> = { value: T; etag: string };

export type CatalogTransaction = UnitOfWork<{ catalogs: CatalogRepository; audit: AuditRepository }>;

// ETags derive from versions, so a cached entry answers If-None-Match without reading the database.
const listEtag = (catalogVersion: string) => `"v${catalogVersion}"`;
const companyEtag = (version: string) => `"c${version}"`;
const LIST_KEY = 'list';
const companyKey = (companyId: string) => `company:${companyId}`;

// How many times one shared read is made while writes keep overtaking it.
const STALE_READ_TRIES = 5;

/**
 * Catalog reads, served through the cache (one database read for concurrent misses of one key), and
 * writes: each in one transaction with its audit event and a new catalog version, an `ifMatch`
 * precondition checked inside it after the company row is locked, and the cache invalidated on every
 * instance before the write returns.
 */
export function createCatalogService({
  catalogs,
  transaction,
  cache,
  cacheMetrics,
}: {
  catalogs: CatalogRepository;
  transaction: CatalogTransaction;
  cache: CatalogCache;
  cacheMetrics?: { hit(): void; miss(): void };
}) {
  const inFlight = new Map<string, Promise<CacheEntry<unknown>>>();

  // A hit in memory is answered at once, without a promise (sync-first.ts).
  function read<T>(key: string, load: () => Promise<CacheEntry<T>>): MaybePromise<CacheEntry<T>> {
    return andThen(cache.get<T>(key), (cached) => {
      if (cached) {
        cacheMetrics?.hit();
        return cached;
      }
      cacheMetrics?.miss();
      return loadOnce(key, load);
    });
  }

  function loadOnce<T>(key: string, load: () => Promise<CacheEntry<T>>): Promise<CacheEntry<T>> {
    let pending = inFlight.get(key) as Promise<CacheEntry<T>> | undefined;
    if (!pending) {
      pending = (async () => {
        let entry = await load();
        // A write was announced while this read ran: a request that joined the read after the write had
        // answered must see the write, so the read is made again (writes are rare; a few tries suffice).
        for (let tries = 1; cache.isStale(entry.version) && tries < STALE_READ_TRIES; tries += 1) {
          entry = await load();
        }
        await cache.set(key, entry);
        return entry;
      })().finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  }

  async function write<T>(
    work: (repositories: Parameters<Parameters<CatalogTransaction>[0]>[0], version: string) => Promise<T>,
  ) {
    const { result, version } = await transaction(async (repositories) => {
      const version = await repositories.catalogs.bumpVersion();
      return { result: await work(repositories, version), version };
    });
    await cache.invalidate(version);
    return { result, version };
  }

  return {
    // The cache entry is returned as it is: it holds the value and its ETag (and the version behind them).
    listCatalogs(): MaybePromise<Versioned<CatalogRecord[]>> {
      return read(LIST_KEY, async () => {
        const { catalogs: value, catalogVersion } = await catalogs.listCatalogs();
        return { value, version: catalogVersion, etag: listEtag(catalogVersion) };
      });
    },

    getCatalog(companyId: string): MaybePromise<Versioned<CatalogRecord>> {
      return read(companyKey(companyId), async () => {
        const found = await catalogs.findCatalog(companyId);
        if (!found) throw companyNotFound(companyId);
        return { value: found.catalog, version: found.catalogVersion, etag: companyEtag(found.version) };
      });
    },

    async createCatalog(input: CatalogRecord, actor: Principal): Promise<Versioned<CatalogRecord>> {
      const catalog = canonical(input);
      const { version } = await write(async ({ catalogs, audit }, version) => {
        if (!(await catalogs.insertCatalog(catalog, version))) throw companyExists(catalog.company_id);
        await audit.append(actor, 'catalog.create', catalog.company_id, null, catalog);
      });
      return { value: catalog, etag: companyEtag(version) };
    },

    async replaceCatalog(
      input: CatalogRecord,
      actor: Principal,
      ifMatch?: string,
    ): Promise<Versioned<CatalogRecord>> {
      const catalog = canonical(input);
      const { version } = await write(async ({ catalogs, audit }, version) => {
        const current = await lockCurrent(catalogs, catalog.company_id, ifMatch);
        await catalogs.replaceProducts(catalog, version);
        await audit.append(actor, 'catalog.replace', catalog.company_id, current, catalog);
      });
      return { value: catalog, etag: companyEtag(version) };
    },

    async deleteCatalog(companyId: string, actor: Principal, ifMatch?: string): Promise<CatalogRecord> {
      const { result } = await write(async ({ catalogs, audit }) => {
        const current = await lockCurrent(catalogs, companyId, ifMatch);
        await catalogs.deleteCatalog(companyId);
        await audit.append(actor, 'catalog.delete', companyId, current, null);
        return current;
      });
      return result;
    },
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;

async function lockCurrent(repository: CatalogRepository, companyId: string, ifMatch?: string) {
  const current = await repository.findCatalog(companyId, { forUpdate: true });
  if (!current) throw companyNotFound(companyId);
  const etag = companyEtag(current.version);
  if (!matchesIfMatch(ifMatch, etag)) throw preconditionFailed(etag);
  return current.catalog;
}

/** Refuses duplicate product ids and orders products as they are stored and returned. */
function canonical(catalog: CatalogRecord): CatalogRecord {
  const seen = new Map<string, number>();
  const errors: FieldError[] = [];
  catalog.products.forEach((product, index) => {
    const first = seen.get(product.id);
    if (first === undefined) seen.set(product.id, index);
    else errors.push({ path: `/products/${index}/id`, message: `duplicates /products/${first}/id` });
  });
  if (errors.length > 0) throw invalidRequest('product ids must be unique within a catalog', errors);
  const products = [...catalog.products].sort(
    (a, b) => a.value_cents - b.value_cents || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return { company_id: catalog.company_id, products };
}
