import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createRechargeRepository,
  type RechargeRepository,
} from '../src/modules/recharges/recharges.repository.js';
import { putJson } from './helpers/app.js';
import {
  createTestDatabase,
  databaseTargets,
  seedClaroAndShop,
  type TestDatabase,
} from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { useOtherSession, waitUntilBlocked } from './helpers/locks.js';

const id = (n: number) => `01900000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const recharge = (
  n: number,
  overrides: { company_id?: string; product_id?: string; value_cents?: number } = {},
) => ({
  id: id(n),
  company_id: 'claro_11',
  product_id: 'claro_10',
  phone_number: '5511999999999',
  value_cents: 1000,
  client: 'shop',
  ...overrides,
});

describe.each(databaseTargets)('recharges stored in batches on %s', (target) => {
  let database: TestDatabase;
  let statements: string[];
  let recharges: RechargeRepository;

  beforeEach(async () => {
    statements = [];
    database = await createTestDatabase(target, (text) => statements.push(text));
    // An account without a limit: what is tested here is the batching, not the funds.
    await seedClaroAndShop(database.db);
    // One statement at a time: what arrives while it runs queues, and goes in the next one.
    recharges = createRechargeRepository(database.db, { batching: { maxSize: 10, maxInFlight: 1 } });
  });
  afterEach(() => database.close());

  const inserts = () => statements.filter((text) => text.includes('recharges_priced_insert('));

  it('when recharges arrive while one is being stored, then they share the next statement, each with its own outcome', async () => {
    const stored = { key: 'stored', fingerprint: 'f-stored' };
    expect((await recharges.insertPriced(recharge(1), stored)).outcome).toBe('created');
    statements = [];

    const outcomes = await Promise.all([
      recharges.insertPriced(recharge(2)), // alone: nothing was running
      recharges.insertPriced(recharge(3), { key: 'k', fingerprint: 'f-k' }),
      recharges.insertPriced(recharge(4, { value_cents: 1500 })),
      recharges.insertPriced(recharge(5, { product_id: 'claro_99' })),
      recharges.insertPriced(recharge(6, { company_id: 'nowhere' })),
      recharges.insertPriced(recharge(7), stored),
      recharges.insertPriced(recharge(8), { key: 'k', fingerprint: 'f-k' }), // waits for the next statement
      recharges.insertPriced(recharge(9)),
    ]);

    expect(outcomes.map((outcome) => outcome.outcome)).toEqual([
      'created',
      'created',
      'value_mismatch',
      'unknown_product',
      'unknown_company',
      'replayed',
      'replayed',
      'created',
    ]);
    expect(outcomes[2]).toEqual({ outcome: 'value_mismatch', productValueCents: 1000 });
    expect(outcomes[5]).toMatchObject({
      fingerprint: 'f-stored',
      recharge: { id: id(1), value_cents: 1000 },
    });
    expect(outcomes[6]).toMatchObject({ fingerprint: 'f-k', recharge: { id: id(3) } });
    const created = outcomes[1];
    if (created?.outcome !== 'created') throw new Error('not created');
    expect(created.recharge).toEqual({
      ...recharge(3),
      client: undefined,
      created_at: expect.any(Date),
      status: 'pending',
      updated_at: created.recharge.created_at,
      failure_code: null,
    });
    // 2 alone; 3–7 and 9 together; 8, a repeat of 3's key, after them.
    expect(inserts()).toHaveLength(3);

    const rows = await database.db.selectFrom('recharges').select('id').orderBy('id').execute();
    expect(rows.map((row) => row.id)).toEqual([id(1), id(2), id(3), id(9)]);
    const keys = await database.db.selectFrom('idempotency_keys').select(['key', 'recharge_id']).execute();
    expect(keys).toEqual(
      expect.arrayContaining([
        { key: 'stored', recharge_id: id(1) },
        { key: 'k', recharge_id: id(3) },
      ]),
    );
    expect(keys).toHaveLength(2);
  });

  it('when PostgreSQL refuses a shared statement, then each recharge is tried alone and only the bad one fails', async () => {
    await recharges.insertPriced(recharge(1));
    const blocker = recharges.insertPriced(recharge(2));
    const batch = [
      recharges.insertPriced(recharge(3), { key: 'a', fingerprint: 'f' }),
      recharges.insertPriced(recharge(1)), // the id of a stored recharge: the primary key refuses it
      recharges.insertPriced(recharge(4)),
    ].map((answer) =>
      answer.then((outcome) => outcome.outcome).catch((error: { code?: string }) => error.code),
    );
    await blocker;
    expect(await Promise.all(batch)).toEqual(['created', '23505', 'created']);
    const rows = await database.db.selectFrom('recharges').select('id').orderBy('id').execute();
    expect(rows.map((row) => row.id)).toEqual([id(1), id(2), id(3), id(4)]);
    expect(await database.db.selectFrom('idempotency_keys').select('key').execute()).toEqual([{ key: 'a' }]);
  });
});

// Deadlocks need several sessions; PGlite has one.
describe.each(databaseTargets.filter((target) => target === 'postgres'))(
  'a recharge batch and a catalog write that wait for each other on %s',
  (target) => {
    const catalog = (values: Record<string, number>) => ({
      company_id: 'vivo_21',
      products: Object.entries(values).map(([id, value]) => ({ id, value })),
    });
    const t = useTestApp(target, { empty: ['recharges'], seed: [catalog({ p1: 10, p2: 10, p3: 10 })] });
    const other = useOtherSession(() => t().database);
    beforeAll(async () => {
      // An account without a limit: what is tested here is the locking, not the funds.
      await t()
        .database.db.insertInto('accounts')
        .values({ client: 'shop', credit_limit_cents: null })
        .execute();
    });

    it('when a write changes products in another order than a batch locks them, then neither deadlocks', async () => {
      // Counts the statements that answered: a batch that PostgreSQL broke out of a deadlock would be
      // retried one recharge at a time, and would answer as if nothing had happened.
      let answered = 0;
      const counted = t().database.db.withPlugin({
        transformQuery: ({ node }) => node,
        transformResult: async ({ result }) => {
          answered += 1;
          return result;
        },
      });
      const recharges = createRechargeRepository(counted, { batching: { maxSize: 10, maxInFlight: 1 } });
      const priced = (n: number, product: string) =>
        recharges.insertPriced(recharge(n, { company_id: 'vivo_21', product_id: product }));
      // p2 is held elsewhere, so the batch below holds p1 and waits for p2.
      await other().query('begin');
      await other().query(`select 1 from products where product_id = 'p2' for update`);
      const first = priced(1, 'p1');
      const batch = [priced(2, 'p1'), priced(3, 'p2'), priced(4, 'p3')];
      await first;
      await waitUntilBlocked(other(), 1);
      // Products are written in value order, p3 first: without the write locking them in the batch's order
      // first, it would hold p3 and wait for p2, and the batch, given p2, would wait for p3: a deadlock,
      // which PostgreSQL breaks by failing one of them.
      const write = putJson(
        t().app,
        '/CompanyProducts?company_id=vivo_21',
        catalog({ p1: 15, p2: 10, p3: 5 }),
      );
      await waitUntilBlocked(other(), 2);
      await other().query('rollback');

      expect((await Promise.all(batch)).map((outcome) => outcome.outcome)).toEqual([
        'created',
        'created',
        'created',
      ]);
      expect(answered).toBe(2); // the first recharge alone, then the other three in one statement
      const written = await write;
      expect(written.statusCode, written.body).toBe(200);
    });
  },
);
