import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/database.js';

/** A catalog as stored: values in integer cents, products ordered by value then id. */
export type CatalogRecord = {
  company_id: string;
  products: { id: string; value_cents: number }[];
};

// Code-point order whatever the database's collation, as SPEC §1 promises.
const byCompany = sql`companies.company_id collate "C"`;
const byProduct = sql`products.product_id collate "C"`;

export interface CatalogRepository {
  listCatalogs(): Promise<CatalogRecord[]>;
  findCatalog(companyId: string, options?: { forUpdate?: boolean }): Promise<CatalogRecord | null>;
  insertCatalog(catalog: CatalogRecord): Promise<boolean>;
  replaceProducts(catalog: CatalogRecord): Promise<void>;
  deleteCatalog(companyId: string): Promise<void>;
}

export function createCatalogRepository(db: Kysely<DB>): CatalogRepository {
  function selectCatalogs() {
    return db
      .selectFrom('companies')
      .leftJoin('products', 'products.company_id', 'companies.company_id')
      .select(['companies.company_id', 'products.product_id', 'products.value_cents'])
      .orderBy(byCompany)
      .orderBy('products.value_cents')
      .orderBy(byProduct);
  }

  return {
    async listCatalogs(): Promise<CatalogRecord[]> {
      return groupRows(await selectCatalogs().execute());
    },

    async findCatalog(
      companyId: string,
      options: { forUpdate?: boolean } = {},
    ): Promise<CatalogRecord | null> {
      if (options.forUpdate) {
        // Serialises writers of one company; recharges lock the product rows they price from.
        const company = await db
          .selectFrom('companies')
          .select('company_id')
          .where('company_id', '=', companyId)
          .forUpdate()
          .executeTakeFirst();
        if (!company) return null;
      }
      const rows = await selectCatalogs().where('companies.company_id', '=', companyId).execute();
      return groupRows(rows)[0] ?? null;
    },

    /** Inserts a new catalog; false when the company already exists. */
    async insertCatalog(catalog: CatalogRecord): Promise<boolean> {
      const inserted = await db
        .insertInto('companies')
        .values({ company_id: catalog.company_id })
        .onConflict((oc) => oc.column('company_id').doNothing())
        .returning('company_id')
        .executeTakeFirst();
      if (!inserted) return false;
      await insertProducts(db, catalog);
      return true;
    },

    /** Replaces the product list of an existing, locked company. */
    async replaceProducts(catalog: CatalogRecord): Promise<void> {
      const keep = catalog.products.map((product) => product.id);
      // Products that stay are updated in place, not deleted and re-inserted, so a recharge waiting on
      // one sees its new value instead of a vanished row.
      let removal = db.deleteFrom('products').where('company_id', '=', catalog.company_id);
      if (keep.length > 0) removal = removal.where('product_id', 'not in', keep);
      await removal.execute();
      await insertProducts(db, catalog);
      await db
        .updateTable('companies')
        .set({ updated_at: new Date() })
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

type CatalogRow = { company_id: string; product_id: string | null; value_cents: number | null };

function groupRows(rows: CatalogRow[]): CatalogRecord[] {
  const catalogs: CatalogRecord[] = [];
  let current: CatalogRecord | undefined;
  for (const row of rows) {
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
