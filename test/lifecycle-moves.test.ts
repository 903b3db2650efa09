import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailureCode, RechargeStatus } from '../src/db/database.js';
import { createTestDatabase, databaseTargets, type TestDatabase } from './helpers/databases.js';

const STATUSES: RechargeStatus[] = ['pending', 'processing', 'completed', 'failed', 'reversed'];
// docs/api.md (The recharge lifecycle): the only moves there are.
const MOVES = new Set([
  'pending>processing',
  'pending>failed',
  'processing>completed',
  'processing>failed',
  'completed>reversed',
]);

/** The columns a recharge in `status` must have (the table's checks tie them to its status). */
function columnsOf(status: RechargeStatus) {
  const unfinished = status === 'pending' || status === 'processing';
  const failureCode: FailureCode | null =
    status === 'failed' ? 'carrier_declined' : status === 'reversed' ? 'carrier_reversed' : null;
  return {
    status,
    failure_code: failureCode,
    next_step: unfinished ? ('query' as const) : null,
    next_attempt_at: unfinished ? new Date() : null,
  };
}

describe.each(databaseTargets)('recharge status moves on %s', (target) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(target);
  });
  afterAll(() => database.close());

  async function insertIn(status: RechargeStatus): Promise<string> {
    const id = uuidv7();
    const now = new Date();
    await database.db
      .insertInto('recharges')
      .values({
        id,
        created_at: now,
        updated_at: now,
        company_id: 'claro_11',
        product_id: 'claro_10',
        phone_number: '5511999999999',
        value_cents: 1000,
        client: 'moves',
        ...columnsOf(status),
      })
      .execute();
    return id;
  }

  it('allows exactly the moves docs/api.md lists, whoever writes the row', async () => {
    const verdicts: Record<string, boolean> = {};
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        if (from === to) continue;
        const id = await insertIn(from);
        verdicts[`${from}>${to}`] = await database.db
          .updateTable('recharges')
          .set(columnsOf(to))
          .where('id', '=', id)
          .execute()
          .then(
            () => true,
            (error: { message?: string }) => {
              expect(error.message).toContain(`cannot move from ${from} to ${to}`);
              return false;
            },
          );
      }
    }
    const allowed = Object.keys(verdicts).filter((move) => verdicts[move]);
    expect(allowed.sort()).toEqual([...MOVES].sort());
    expect(Object.keys(verdicts)).toHaveLength(20);
  });

  it('refuses a failure code that does not fit the status, and unscheduled unfinished work', async () => {
    const id = await insertIn('processing');
    await expect(
      database.db
        .updateTable('recharges')
        .set({ failure_code: 'invalid_number' })
        .where('id', '=', id)
        .execute(),
    ).rejects.toThrow(/recharges_failure_code_check/);
    await expect(
      database.db.updateTable('recharges').set({ next_attempt_at: null }).where('id', '=', id).execute(),
    ).rejects.toThrow(/recharges_work_scheduled/);
    await expect(
      sql`update recharges set status = 'completed' where id = ${id}`.execute(database.db),
    ).rejects.toThrow(/recharges_work_scheduled/);
  });
});
