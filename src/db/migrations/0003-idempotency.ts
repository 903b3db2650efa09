import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Written in the same statement as the recharge it binds, so a key exists only for a stored recharge.
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('client', 'text', (col) => col.notNull())
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('fingerprint', 'text', (col) => col.notNull())
    .addColumn('recharge_id', 'uuid', (col) => col.notNull())
    .addColumn('created_at', sql`timestamptz(3)`, (col) => col.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pkey', ['client', 'key'])
    .execute();
  // The purge deletes by age.
  await db.schema
    .createIndex('idempotency_keys_created_at_idx')
    .on('idempotency_keys')
    .column('created_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('idempotency_keys').execute();
}
