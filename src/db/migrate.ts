import { type Kysely, type Migration, type MigrationResult, Migrator, sql } from 'kysely';
import { createDatabase, type Database, type DatabaseOptions, type DB } from './database.js';
import * as initial from './migrations/0001-initial.js';
import * as access from './migrations/0002-access.js';
import * as idempotency from './migrations/0003-idempotency.js';
import * as catalogVersion from './migrations/0004-catalog-version.js';
import * as idempotencyForeignKey from './migrations/0005-idempotency-recharge-fk.js';
import * as lifecycle from './migrations/0006-lifecycle.js';
import * as accounts from './migrations/0007-accounts.js';
import * as webhooks from './migrations/0008-webhooks.js';
import * as claimInDueOrder from './migrations/0009-claim-in-due-order.js';
import * as cooldownAfterAccepted from './migrations/0010-cooldown-after-accepted.js';
import * as webhookSecrets from './migrations/0011-webhook-secrets.js';
import { sqlStateOf } from './sql-state.js';

// Listed, not read from a folder, so the same code runs from src/ under tsx and from dist/ under node.
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-access': access,
  '0003-idempotency': idempotency,
  '0004-catalog-version': catalogVersion,
  '0005-idempotency-recharge-fk': idempotencyForeignKey,
  '0006-lifecycle': lifecycle,
  '0007-accounts': accounts,
  '0008-webhooks': webhooks,
  '0009-claim-in-due-order': claimInDueOrder,
  '0010-cooldown-after-accepted': cooldownAfterAccepted,
  '0011-webhook-secrets': webhookSecrets,
};

/** Kysely's migrator over this service's migrations, in the connection's current schema. */
export async function createMigrator(db: Kysely<DB>): Promise<Migrator> {
  // Named, because without a schema Kysely takes a migration table in any schema of the database for ours.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return new Migrator({
    db,
    migrationTableSchema: rows[0]?.schema ?? 'public',
    provider: { getMigrations: async () => migrations },
  });
}

/**
 * Brings the database `options` names up to date. On PostgreSQL the migrations run on a connection of their
 * own, without the 2.5 s statement timeout that bounds a request: a migration that rewrites a large table
 * may take minutes, and must not fail every start-up. PGlite has no such timeout, and one holder at a time,
 * so it migrates through `database` itself.
 */
export async function migrateDatabase(
  database: Database,
  options: Pick<DatabaseOptions, 'url' | 'schema'>,
): Promise<MigrationResult[]> {
  if (!options.url) return migrateToLatest(database.db);
  const own = await createDatabase({ ...options, poolSize: 1, timeouts: false });
  try {
    return await migrateToLatest(own.db);
  } finally {
    await own.close();
  }
}

/** Brings the schema up to date; safe to run from several instances at once (Kysely takes a lock). */
export async function migrateToLatest(db: Kysely<DB>): Promise<MigrationResult[]> {
  const migrator = await createMigrator(db);
  for (let attempt = 1; ; attempt += 1) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return results ?? [];
    // Kysely looks through every schema of the database; one dropped meanwhile (3F000) is worth a retry.
    if (sqlStateOf(error) !== INVALID_SCHEMA_NAME || attempt === 3) throw error;
  }
}

const INVALID_SCHEMA_NAME = '3F000';
