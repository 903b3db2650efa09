import type { Kysely } from 'kysely';

// A key never outlives its recharge: a replay must always find what it points to.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('idempotency_keys')
    .addForeignKeyConstraint(
      'idempotency_keys_recharge_id_fkey',
      ['recharge_id'],
      'recharges',
      ['id'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('idempotency_keys')
    .dropConstraint('idempotency_keys_recharge_id_fkey')
    .execute();
}
