import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/database.js';

/** A catalog as stored: values in integer cents, products ordered by value then id. */
export type CatalogRecord = {
  company_id: string;
  products: { id: string; value_cents: number }[];
};

// Code-point order whatever the database's collation, as docs/api.md (Catalog) promises.
const byCompany = sql`companies.company_id collate "C"`;
const byProduct = sql`products.product_id collate "C"`;

/** The catalog version of catalog_state, and of each company at its last write; ETags derive from them. */
export type CatalogList = { catalogs: CatalogRecord[]; catalogVersion: string };
export type CompanyCatalog = { catalog: CatalogRecord; version: string; catalogVersion: string };

export interface CatalogRepository {
  listCatalogs(): Promise<CatalogList>;
  findCatalog(companyId: string, options?: { forUpdate?: boolean }): Promise<CompanyCatalog | null>;
  /** The catalog version as committed, for the instances' poll (catalog-version-watch.ts). */
  currentVersion(): Promise<string>;
  /** Raises the catalog version; every write does it first, in its transaction. */
  bumpVersion(): Promise<string>;
  insertCatalog(catalog: CatalogRecord, version: string): Promise<boolean>;
  replaceProducts(catalog: CatalogRecord, version: string): Promise<void>;
  deleteCatalog(companyId: string): Promise<void>;
}

export function createCatalogRepository(db: Kysely<DB>): CatalogRepository {
  // From catalog_state, so one query answers the version too, even when there is no company.
  function selectCatalogs() {
    return db
      .selectFrom('catalog_state')
      .leftJoin('companies', (join) => join.onTrue())
      .leftJoin('products', 'products.company_id', 'companies.company_id')
      .select([
        sql<string>`catalog_state.version::text`.as('catalog_version'),
        sql<string | null>`companies.version::text`.as('company_version'),
        'companies.company_id',
        'products.product_id',
        'products.value_cents',
      ])
      .orderBy(byCompany)
      .orderBy('products.value_cents')
      .orderBy(byProduct);
  }

  return {
    async currentVersion() {
      const row = await db
        .selectFrom('catalog_state')
        .select(sql<string>`version::text`.as('version'))
        .executeTakeFirstOrThrow();
      return row.version;
    },

    async listCatalogs(): Promise<CatalogList> {
      const rows = await selectCatalogs().execute();
      return { catalogs: groupRows(rows), catalogVersion: rows[0]?.catalog_version ?? '0' };
    },

    async findCatalog(
      companyId: string,
      options: { forUpdate?: boolean } = {},
    ): Promise<CompanyCatalog | null> {
      if (options.forUpdate) {
        // Serialises writers of one company; recharges lock the product rows they price from.
        const company = await db
          .selectFrom('companies')
          .select('company_id')
          .where('company_id', '=', companyId)
          .forUpdate()
          .executeTakeFirst();
        if (!company) return null;
        // Its products too, in the order a recharge batch locks them (recharges.sql.ts), so the
        // two wait for each other but never deadlock.
        await db
          .selectFrom('products')
          .select('product_id')
          .where('company_id', '=', companyId)
          .orderBy(byProduct)
          .forUpdate()
          .execute();
      }
      const rows = await selectCatalogs().where('companies.company_id', '=', companyId).execute();
      const catalog = groupRows(rows)[0];
      const first = rows[0];
      if (!catalog || !first?.company_version) return null;
      return { catalog, version: first.company_version, catalogVersion: first.catalog_version };
    },

    async bumpVersion(): Promise<string> {
      const row = await db
        .updateTable('catalog_state')
        .set((eb) => ({ version: sql<string>`${eb.ref('version')} + 1` }))
        .returning(sql<string>`version::text`.as('version'))
        .executeTakeFirstOrThrow();
      return row.version;
    },

    /** Inserts a new catalog; false when the company already exists. */
    async insertCatalog(catalog: CatalogRecord, version: string): Promise<boolean> {
      const inserted = await db
        .insertInto('companies')
        .values({ company_id: catalog.company_id, version })
        .onConflict((oc) => oc.column('company_id').doNothing())
        .returning('company_id')
        .executeTakeFirst();
      if (!inserted) return false;
      await insertProducts(db, catalog);
      return true;
    },

    /** Replaces the product list of an existing, locked company. */
    async replaceProducts(catalog: CatalogRecord, version: string): Promise<void> {
      const keep = catalog.products.map((product) => product.id);
      // Products that stay are updated in place, not deleted and re-inserted, so a recharge waiting on
      // one sees its new value instead of a vanished row.
      let removal = db.deleteFrom('products').where('company_id', '=', catalog.company_id);
      if (keep.length > 0) removal = removal.where('product_id', 'not in', keep);
      await removal.execute();
      await insertProducts(db, catalog);
      await db
        .updateTable('companies')
        .set({ updated_at: new Date(), version })
        .where('company_id', '=', catalog.company_id)
        .execute();
    },

    async deleteCatalog(companyId: string): Promise<void> {
      await db.deleteFrom('companies').where('company_id', '=', companyId).execute();
    },
  };
}

async function insertProducts(db: Kysely<DB>, catalog: CatalogRecord) {
  if (catalog.products.length === 0) return;
  await db
    .insertInto('products')
    .values(
      catalog.products.map((product) => ({
        company_id: catalog.company_id,
        product_id: product.id,
        value_cents: product.value_cents,
      })),
    )
    .onConflict((oc) =>
      oc
        .columns(['company_id', 'product_id'])
        .doUpdateSet((eb) => ({ value_cents: eb.ref('excluded.value_cents') })),
    )
    .execute();
}

type CatalogRow = { company_id: string | null; product_id: string | null; value_cents: number | null };

function groupRows(rows: CatalogRow[]): CatalogRecord[] {
  const catalogs: CatalogRecord[] = [];
  let current: CatalogRecord | undefined;
  for (const row of rows) {
    if (row.company_id === null) continue;
    if (current?.company_id !== row.company_id) {
      current = { company_id: row.company_id, products: [] };
      catalogs.push(current);
    }
    if (row.product_id !== null && row.value_cents !== null) {
      current.products.push({ id: row.product_id, value_cents: row.value_cents });
    }
  }
  return catalogs;
}
