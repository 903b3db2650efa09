import type { UnitOfWork } from '../../db/unit-of-work.js';
import type { Principal } from '../../shared/access.js';
import {
  companyExists,
  companyNotFound,
  type FieldError,
  invalidRequest,
  preconditionFailed,
} from '../../shared/errors.js';
import { computeEtag, matchesIfMatch } from '../../shared/etag.js';
import type { AuditRepository } from '../audit/index.js';
import type { CatalogRecord, CatalogRepository } from './catalog.repository.js';

export type Versioned<T> = { value: T; etag: string };

export type CatalogTransaction = UnitOfWork<{ catalogs: CatalogRepository; audit: AuditRepository }>;

/**
 * Catalog reads and writes. Each write runs in one transaction with its audit event, and an `ifMatch`
 * precondition is checked inside it, after the company row is locked.
 */
export function createCatalogService({
  catalogs,
  transaction,
}: {
  catalogs: CatalogRepository;
  transaction: CatalogTransaction;
}) {
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

    async createCatalog(input: CatalogRecord, actor: Principal): Promise<Versioned<CatalogRecord>> {
      const catalog = canonical(input);
      await transaction(async ({ catalogs, audit }) => {
        if (!(await catalogs.insertCatalog(catalog))) throw companyExists(catalog.company_id);
        await audit.append(actor, 'catalog.create', catalog.company_id, null, catalog);
      });
      return { value: catalog, etag: computeEtag(catalog) };
    },

    async replaceCatalog(
      input: CatalogRecord,
      actor: Principal,
      ifMatch?: string,
    ): Promise<Versioned<CatalogRecord>> {
      const catalog = canonical(input);
      await transaction(async ({ catalogs, audit }) => {
        const current = await lockCurrent(catalogs, catalog.company_id, ifMatch);
        await catalogs.replaceProducts(catalog);
        await audit.append(actor, 'catalog.replace', catalog.company_id, current, catalog);
      });
      return { value: catalog, etag: computeEtag(catalog) };
    },

    async deleteCatalog(companyId: string, actor: Principal, ifMatch?: string): Promise<CatalogRecord> {
      return transaction(async ({ catalogs, audit }) => {
        const current = await lockCurrent(catalogs, companyId, ifMatch);
        await catalogs.deleteCatalog(companyId);
        await audit.append(actor, 'catalog.delete', companyId, current, null);
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
