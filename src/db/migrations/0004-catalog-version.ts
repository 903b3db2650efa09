import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row: the version of the whole catalog, bumped by every catalog write in its own transaction.
  // Caches compare against it, and it is the list's ETag; each company keeps the version of its last write.
  await db.schema
    .createTable('catalog_state')
    .addColumn('id', 'integer', (col) => col.primaryKey().check(sql`id = 1`))
    .addColumn('version', 'bigint', (col) => col.notNull())
    .execute();
  await sql`insert into catalog_state (id, version) values (1, 1)`.execute(db);
  await db.schema
    .alterTable('companies')
    .addColumn('version', 'bigint', (col) => col.notNull().defaultTo(1))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('companies').dropColumn('version').execute();
  await db.schema.dropTable('catalog_state').execute();
}
