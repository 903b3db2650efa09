import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('client', 'text', (col) => col.notNull())
    .addColumn('scopes', sql`text[]`, (col) => col.notNull())
    // SHA-256 of the whole key: the key itself is shown once and never stored.
    .addColumn('key_hash', 'bytea', (col) => col.notNull())
    .addColumn('created_at', sql`timestamptz(3)`, (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'text')
    .addColumn('revoked_at', sql`timestamptz(3)`)
    .execute();

  // Recharges made before tenancy belong to no client: only admin keys see them.
  await db.schema
    .alterTable('recharges')
    .addColumn('client', 'text', (col) => col.notNull().defaultTo(''))
    .execute();
  await db.schema
    .alterTable('recharges')
    .alterColumn('client', (col) => col.dropDefault())
    .execute();
  // A client's listing of one phone number is a range scan of this index.
  await db.schema
    .createIndex('recharges_client_phone_number_created_at_id_idx')
    .on('recharges')
    .columns(['client', 'phone_number', 'created_at', 'id'])
    .execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('occurred_at', sql`timestamptz(3)`, (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('actor_key_id', 'text', (col) => col.notNull())
    .addColumn('actor_client', 'text', (col) => col.notNull())
    .addColumn('action', 'text', (col) => col.notNull())
    .addColumn('target', 'text', (col) => col.notNull())
    .addColumn('before', 'jsonb')
    .addColumn('after', 'jsonb')
    .execute();
  // Append-only, enforced by the database itself, not only by the code that writes it.
  await sql`
    create function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only';
    end $$`.execute(db);
  await sql`
    create trigger audit_events_append_only before update or delete or truncate on audit_events
    for each statement execute function audit_events_append_only()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_events').execute();
  await sql`drop function audit_events_append_only()`.execute(db);
  await db.schema.dropIndex('recharges_client_phone_number_created_at_id_idx').execute();
  await db.schema.alterTable('recharges').dropColumn('client').execute();
  await db.schema.dropTable('api_keys').execute();
}
