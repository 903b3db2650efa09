import { type Kysely, type Migration, type MigrationResult, Migrator } from 'kysely';
import type { DB } from './database.js';
import * as initial from './migrations/0001-initial.js';

// Listed, not read from a folder, so the same code runs from src/ under tsx and from dist/ under node.
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
};

/** Brings the schema up to date; safe to run from several instances at once (Kysely takes a lock). */
export async function migrateToLatest(db: Kysely<DB>): Promise<MigrationResult[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return results ?? [];
}
