import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { createDatabase, type Database, type DB } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

export type DatabaseTarget = 'pglite' | 'postgres';

/** PGlite always; real PostgreSQL too when TEST_DATABASE_URL is set (as in CI, where it must answer). */
export const databaseTargets: DatabaseTarget[] = process.env.TEST_DATABASE_URL
  ? ['pglite', 'postgres']
  : ['pglite'];

export type TestDatabase = Database & { url?: string; schema?: string };

/** A fresh, migrated database: in-memory PGlite, or a schema of its own on the test PostgreSQL. */
export async function createTestDatabase(
  target: DatabaseTarget,
  onQuery?: (sql: string, parameters: readonly unknown[]) => void,
): Promise<TestDatabase> {
  if (target === 'pglite') {
    const database = await createDatabase({ dataDir: 'memory://', ...(onQuery ? { onQuery } : {}) });
    await migrateToLatest(database.db);
    return database;
  }
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set');
  const schema = `test_${randomBytes(6).toString('hex')}`;
  await adminQuery(url, `create schema ${schema}`);
  const database = await createDatabase({ url, schema, poolSize: 20, ...(onQuery ? { onQuery } : {}) });
  await migrateToLatest(database.db);
  return {
    ...database,
    url,
    schema,
    async close() {
      await database.close();
      await adminQuery(url, `drop schema ${schema} cascade`);
    },
  };
}

/** A PostgreSQL URL whose connections use `schema` (a test database's), for a process or a CLI to open. */
export function withSearchPath(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

async function adminQuery(url: string, text: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * Writes straight to the tables, for tests below the API: company claro_11 with product claro_10 at 10.00, and
 * the account of client `shop` without a credit limit (what those tests try is not the funds).
 */
export async function seedClaroAndShop(db: Kysely<DB>): Promise<void> {
  await db.insertInto('companies').values({ company_id: 'claro_11' }).execute();
  await db
    .insertInto('products')
    .values({ company_id: 'claro_11', product_id: 'claro_10', value_cents: 1000 })
    .execute();
  await db.insertInto('accounts').values({ client: 'shop', credit_limit_cents: null }).execute();
}

/**
 * Empties the recharges and the books and webhook messages that follow them, and zeroes every balance: the
 * ledger is append-only, so its trigger is set aside for the truncation (a test's reset, never the service's).
 */
export async function emptyRecharges(db: Kysely<DB>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`alter table ledger_entries disable trigger ledger_entries_append_only`.execute(trx);
    await sql`truncate ledger_idempotency_keys, ledger_entries, account_days, idempotency_keys, webhook_messages, recharges`.execute(
      trx,
    );
    await sql`alter table ledger_entries enable trigger ledger_entries_append_only`.execute(trx);
    await sql`update accounts set balance_cents = 0`.execute(trx);
  });
}
