import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('companies')
    .addColumn('company_id', 'text', (col) => col.primaryKey())
    .addColumn('created_at', sql`timestamptz(3)`, (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('products')
    .addColumn('company_id', 'text', (col) =>
      col.notNull().references('companies.company_id').onDelete('cascade'),
    )
    .addColumn('product_id', 'text', (col) => col.notNull())
    // Integer cents: money is never a float. The range mirrors the API's 0.01–10000.
    .addColumn('value_cents', 'integer', (col) => col.notNull().check(sql`value_cents between 1 and 1000000`))
    .addPrimaryKeyConstraint('products_pkey', ['company_id', 'product_id'])
    .execute();

  // No foreign key to the catalog: a recharge keeps what it was sold for after the catalog changes.
  await db.schema
    .createTable('recharges')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('created_at', sql`timestamptz(3)`, (col) => col.notNull())
    .addColumn('company_id', 'text', (col) => col.notNull())
    .addColumn('product_id', 'text', (col) => col.notNull())
    .addColumn('phone_number', 'text', (col) => col.notNull())
    .addColumn('value_cents', 'integer', (col) => col.notNull().check(sql`value_cents > 0`))
    .execute();

  // Serves GET ?phone_number= as a range scan in (created_at, id) order, the keyset the cursor uses.
  await db.schema
    .createIndex('recharges_phone_number_created_at_id_idx')
    .on('recharges')
    .columns(['phone_number', 'created_at', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('recharges').execute();
  await db.schema.dropTable('products').execute();
  await db.schema.dropTable('companies').execute();
}
