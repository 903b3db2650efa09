import {
  companyExists,
  companyNotFound,
  type FieldError,
  invalidRequest,
  preconditionFailed,
} from '../../shared/errors.js';
import { computeEtag, matchesIfMatch } from '../../shared/etag.js';
import type { CatalogRecord, CatalogRepository } from './catalog.repository.js';

export type Versioned<T> = { value: T; etag: string };

/** Catalog reads and writes; an `ifMatch` precondition is checked inside the write's transaction. */
export function createCatalogService({ catalogs }: { catalogs: CatalogRepository }) {
  return {
    async listCatalogs(): Promise<Versioned<CatalogRecord[]>> {
      const value = await catalogs.listCatalogs();
      return { value, etag: computeEtag(value) };
    },

    async getCatalog(companyId: string): Promise<Versioned<CatalogRecord>> {
      const value = await catalogs.findCatalog(companyId);
      if (!value) throw companyNotFound(companyId);
      return { value, etag: computeEtag(value) };
    },

    async createCatalog(input: CatalogRecord): Promise<Versioned<CatalogRecord>> {
      const catalog = canonical(input);
      const created = await catalogs.transaction((repository) => repository.insertCatalog(catalog));
      if (!created) throw companyExists(catalog.company_id);
      return { value: catalog, etag: computeEtag(catalog) };
    },

    async replaceCatalog(input: CatalogRecord, ifMatch?: string): Promise<Versioned<CatalogRecord>> {
      const catalog = canonical(input);
      await catalogs.transaction(async (repository) => {
        await lockCurrent(repository, catalog.company_id, ifMatch);
        await repository.replaceProducts(catalog);
      });
      return { value: catalog, etag: computeEtag(catalog) };
    },

    async deleteCatalog(companyId: string, ifMatch?: string): Promise<CatalogRecord> {
      return catalogs.transaction(async (repository) => {
        const current = await lockCurrent(repository, companyId, ifMatch);
        await repository.deleteCatalog(companyId);
        return current;
      });
    },
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;

async function lockCurrent(repository: CatalogRepository, companyId: string, ifMatch?: string) {
  const current = await repository.findCatalog(companyId, { forUpdate: true });
  if (!current) throw companyNotFound(companyId);
  const etag = computeEtag(current);
  if (!matchesIfMatch(ifMatch, etag)) throw preconditionFailed(etag);
  return current;
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
