import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../src/db/migrate.js';
import { createTestDatabase, databaseTargets } from './helpers/databases.js';

describe.each(databaseTargets)('upgrading to accounts on %s', (target) => {
  it('when clients had keys before accounts, then each gets credit for its busiest recent day, in the audit trail', async () => {
    const database = await createTestDatabase(target);
    const { db } = database;
    try {
      const { error } = await (await createMigrator(db)).migrateTo('0006-lifecycle');
      expect(error).toBeUndefined();
      await sql`insert into companies (company_id, version) values ('claro_11', '1')`.execute(db);
      await sql`insert into products (company_id, product_id, value_cents) values ('claro_11', 'claro_10', 1000)`.execute(
        db,
      );
      for (const client of ['busy', 'quiet', 'gone']) {
        await sql`insert into api_keys (id, name, client, scopes, key_hash, revoked_at)
                  values (${`k_${client}`}, ${client}, ${client}, '{recharges:write}', '\\x00',
                          ${client === 'gone' ? sql`now()` : null})`.execute(db);
      }
      // busy: 3 recharges today, 5 on one day ten days ago, 9 forty days ago (outside the window); and
      // recharges that failed or were reversed, which never count: 6 ten days ago, 2 today.
      for (const [count, daysAgo, status] of [
        [3, 0, 'completed'],
        [5, 10, 'completed'],
        [9, 40, 'completed'],
        [4, 10, 'failed'],
        [2, 10, 'reversed'],
        [2, 0, 'failed'],
      ] as const) {
        for (let index = 0; index < count; index += 1) {
          await sql`insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents,
                                           client, status, updated_at, next_step, next_attempt_at)
                    values (gen_random_uuid(), now() - make_interval(days => ${daysAgo}), 'claro_11', 'claro_10',
                            '5511999999999', 1000, 'busy', ${status}, now(), null, null)`.execute(db);
        }
      }

      await migrateToLatest(db);

      const { rows: accounts } = await sql<{ client: string; balance: number; credit_limit: number | null }>`
        select client, balance_cents::float8 as balance, credit_limit_cents::float8 as credit_limit
        from accounts order by client`.execute(db);
      expect(accounts).toEqual([
        { client: 'admin', balance: 0, credit_limit: null },
        { client: 'busy', balance: 0, credit_limit: 5000 },
        { client: 'gone', balance: 0, credit_limit: 0 },
        { client: 'quiet', balance: 0, credit_limit: 0 },
      ]);
      const { rows: events } = await sql<{ actor_key_id: string; target: string; after: unknown }>`
        select actor_key_id, target, after from audit_events where action = 'account.upgrade'
        order by target`.execute(db);
      expect(events).toEqual([
        { actor_key_id: 'migration', target: 'busy', after: { credit_limit_cents: 5000 } },
        { actor_key_id: 'migration', target: 'gone', after: { credit_limit_cents: 0 } },
        { actor_key_id: 'migration', target: 'quiet', after: { credit_limit_cents: 0 } },
      ]);
      // Today's accepted recharges count toward today's daily limits from the first request after it.
      const { rows: days } = await sql<{ client: string; value_cents: number; count: number }>`
        select client, value_cents::float8 as value_cents, count from account_days
        where day = (now() at time zone 'America/Sao_Paulo')::date`.execute(db);
      expect(days).toEqual([{ client: 'busy', value_cents: 3000, count: 3 }]);
      // Recharges from before accounts were never debited: none is ever refunded.
      const { rows: entries } = await sql<{
        count: number;
      }>`select count(*)::int as count from ledger_entries`.execute(db);
      expect(entries[0]?.count).toBe(0);
    } finally {
      await database.close();
    }
  });
});
