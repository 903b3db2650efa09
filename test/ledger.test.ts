import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import {
  asAdmin,
  createKey,
  createTestApp,
  depositTo,
  postJson,
  putJson,
  rechargeBody,
  type TestApp,
  type TestKey,
} from './helpers/app.js';
import { booksOf, runningBalancesHold } from './helpers/books.js';
import { databaseTargets } from './helpers/databases.js';

async function untilFinished(database: Database, client: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await booksOf(database, client)).unfinished > 0) {
    if (Date.now() > deadline) throw new Error(`recharges of ${client} still unfinished`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let clients = 0;
const scopes = ['recharges:write', 'recharges:read', 'accounts:read'];
const phone = (ending: string, index: number) => `55119${String(index % 10_000).padStart(4, '0')}${ending}`;

describe.each(databaseTargets)('the money invariants on %s', (target) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(target, {
      DISPATCHER: 'on',
      SEED_DEMO_DATA: 'true',
      RECHARGES_PER_CLIENT_PER_MINUTE: '1000000',
      RATE_LIMIT_PER_MINUTE: '1000000',
    });
  });
  afterAll(() => t.close());

  const newShop = async (deposit?: number): Promise<TestKey> => {
    clients += 1;
    return createKey(t.app, { name: `ledger_${clients}`, scopes, ...(deposit ? { deposit } : {}) });
  };

  it('when 100 recharges of 10.00 race against 370.00, then exactly 37 are accepted and the balance is 0', async () => {
    const shop = await newShop(370);
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        postJson(
          t.app,
          '/PhoneRecharges',
          { ...rechargeBody, phone_number: phone('1234', index) },
          shop.headers,
        ),
      ),
    );
    expect(responses.filter((response) => response.statusCode === 201)).toHaveLength(37);
    expect(responses.filter((response) => response.statusCode === 422)).toHaveLength(63);
    const books = await booksOf(t.database, shop.client);
    expect(books).toMatchObject({ balance: 0, entries_sum: 0, recharges: 37, debits: 37 });
    expect(books.lowest_balance_after).toBe(0);
  });

  it('when 100 recharges race against 0.00 with a credit limit of 55.00, then 5 are accepted, never below -55.00', async () => {
    const shop = await newShop();
    await putJson(t.app, `/Accounts?client=${shop.client}`, {
      credit_limit: 55,
      limits: { daily_value: null, daily_count: null, same_phone_cooldown_seconds: 0 },
    });
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        postJson(
          t.app,
          '/PhoneRecharges',
          { ...rechargeBody, phone_number: phone('1234', index) },
          shop.headers,
        ),
      ),
    );
    expect(responses.filter((response) => response.statusCode === 201)).toHaveLength(5);
    expect(await booksOf(t.database, shop.client)).toMatchObject({
      balance: -5000,
      lowest_balance_after: -5000,
    });
  });

  it('when recharges fail or are reversed, then each is refunded exactly once, with its status', async () => {
    const shop = await newShop(100);
    const endings = ['9001', '9002', '9009', '9007', '1234'];
    for (const [index, ending] of endings.entries()) {
      const made = await postJson(
        t.app,
        '/PhoneRecharges',
        { ...rechargeBody, phone_number: phone(ending, index) },
        shop.headers,
      );
      expect(made.statusCode).toBe(201);
    }
    await untilFinished(t.database, shop.client);
    // 9007 is credited, then reversed a little later by the carrier's feed.
    const deadline = Date.now() + 20_000;
    while ((await booksOf(t.database, shop.client)).refunds < 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const books = await booksOf(t.database, shop.client);
    expect(books).toMatchObject({
      balance: 9000,
      entries_sum: 9000,
      debits: 5,
      refunds: 4,
      refunds_owed: 0,
      refunds_not_owed: 0,
    });
    expect(await runningBalancesHold(t.database, shop.client)).toBe(true);
    const entries = (await t.app.inject({ url: '/LedgerEntries', headers: shop.headers })).json() as {
      type: string;
      amount: number;
      recharge_id: string | null;
    }[];
    expect(entries.filter((entry) => entry.type === 'refund').every((entry) => entry.amount === 10)).toBe(
      true,
    );
  });

  it('when a second refund or debit of one recharge is written, then the database refuses it', async () => {
    const shop = await newShop(10);
    const made = await postJson(
      t.app,
      '/PhoneRecharges',
      { ...rechargeBody, phone_number: phone('9001', 1) },
      shop.headers,
    );
    const id = (made.json() as { id: string }).id;
    await untilFinished(t.database, shop.client);
    expect((await booksOf(t.database, shop.client)).refunds).toBe(1);
    for (const [type, amount] of [
      ['refund', 1000],
      ['recharge', -1000],
    ] as const) {
      await expect(
        sql`insert into ledger_entries (client, type, amount_cents, balance_after_cents, recharge_id)
            values (${shop.client}, ${type}, ${amount}, 0, ${id})`.execute(t.database.db),
      ).rejects.toThrow(/duplicate key|unique/);
    }
  });

  it('when a recharge made before accounts existed fails, then nothing is refunded: it was never debited', async () => {
    const shop = await newShop(10);
    const { rows } = await sql<{ id: string }>`
      insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents, client, status,
                             updated_at, next_step, next_attempt_at)
      values (gen_random_uuid(), now(), 'claro_11', 'claro_10', ${phone('9001', 3)}, 1000, ${shop.client},
              'pending', now(), 'send', now())
      returning id`.execute(t.database.db);
    await untilFinished(t.database, shop.client);
    const recharge = await t.app.inject({ url: `/PhoneRecharges?id=${rows[0]?.id}`, headers: shop.headers });
    expect(recharge.json()).toMatchObject({ status: 'failed', failure_code: 'invalid_number' });
    expect(await booksOf(t.database, shop.client)).toMatchObject({
      balance: 1000,
      entries_sum: 1000,
      refunds: 0,
    });
  });

  it('when SQL tries to change or remove entries, then the database refuses and they stay', async () => {
    const shop = await newShop(10);
    const db = t.database.db;
    await expect(sql`update ledger_entries set amount_cents = 1`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from ledger_entries`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`truncate ledger_entries cascade`.execute(db)).rejects.toThrow(/append-only/);
    expect((await booksOf(t.database, shop.client)).entries_sum).toBe(1000);
  });

  it('when an entry names a recharge that does not exist, then the database refuses it', async () => {
    const shop = await newShop();
    await expect(
      sql`insert into ledger_entries (client, type, amount_cents, balance_after_cents, recharge_id)
          values (${shop.client}, 'recharge', -1000, -1000, '01900000-0000-7000-8000-000000000000')`.execute(
        t.database.db,
      ),
    ).rejects.toThrow(/foreign key/);
  });

  it('when a debit would take an account below its credit limit, then the account row itself refuses it', async () => {
    const shop = await newShop(5);
    await expect(
      sql`update accounts set balance_cents = balance_cents - 501 where client = ${shop.client}`.execute(
        t.database.db,
      ),
    ).rejects.toThrow(/below its credit limit/);
  });

  it('when random deposits, adjustments, limits and concurrent recharges that fail or succeed run, then the books balance', async () => {
    type Step =
      | { kind: 'deposit'; cents: number }
      | { kind: 'adjust'; cents: number }
      | { kind: 'limit'; cents: number }
      | { kind: 'burst'; endings: string[]; products: ('claro_10' | 'claro_20')[] };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('deposit' as const), cents: fc.integer({ min: 1, max: 10_000 }) }),
      fc.record({
        kind: fc.constant('adjust' as const),
        cents: fc.integer({ min: -5_000, max: 5_000 }).filter((cents) => cents !== 0),
      }),
      fc.record({ kind: fc.constant('limit' as const), cents: fc.integer({ min: 0, max: 5_000 }) }),
      fc.record({
        kind: fc.constant('burst' as const),
        endings: fc.array(fc.constantFrom('1234', '5678', '9001', '9009', '9002'), {
          minLength: 1,
          maxLength: 12,
        }),
        products: fc.array(fc.constantFrom('claro_10' as const, 'claro_20' as const), {
          minLength: 12,
          maxLength: 12,
        }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps: Step[]) => {
        const shop = await newShop();
        let limitCents = 0;
        for (const each of steps) {
          if (each.kind === 'deposit') await depositTo(t.app, shop.client, each.cents / 100);
          if (each.kind === 'adjust') {
            const response = await postJson(t.app, '/LedgerEntries', {
              client: shop.client,
              type: 'adjustment',
              amount: each.cents / 100,
              note: 'property',
            });
            expect([201, 422]).toContain(response.statusCode);
          }
          if (each.kind === 'limit') {
            limitCents = each.cents;
            const response = await putJson(t.app, `/Accounts?client=${shop.client}`, {
              credit_limit: each.cents / 100,
              limits: { daily_value: null, daily_count: null, same_phone_cooldown_seconds: 0 },
            });
            expect(response.statusCode).toBe(200);
          }
          if (each.kind === 'burst') {
            // Debits never go below the limit; a lowered limit leaves a balance already below it where it is.
            const floor = Math.min((await booksOf(t.database, shop.client)).balance, -limitCents);
            const responses = await Promise.all(
              each.endings.map((ending, index) => {
                const product = each.products[index] ?? 'claro_10';
                return postJson(
                  t.app,
                  '/PhoneRecharges',
                  {
                    ...rechargeBody,
                    product_id: product,
                    value: product === 'claro_10' ? 10 : 20,
                    phone_number: phone(ending, index),
                  },
                  shop.headers,
                );
              }),
            );
            for (const response of responses) {
              if (response.statusCode !== 201) expect(response.json().code).toBe('insufficient_funds');
            }
            const books = await booksOf(t.database, shop.client);
            expect(books.balance).toBeGreaterThanOrEqual(floor);
          }
        }
        await untilFinished(t.database, shop.client);
        const books = await booksOf(t.database, shop.client);
        expect(books.balance).toBe(books.entries_sum);
        expect(books).toMatchObject({
          debits: books.recharges,
          debits_without_recharge: 0,
          recharges_without_debit: 0,
          refunds_owed: 0,
          refunds_not_owed: 0,
        });
        expect(await runningBalancesHold(t.database, shop.client)).toBe(true);
        const account = (await t.app.inject({ url: '/Accounts', headers: shop.headers })).json() as {
          balance: number;
        };
        expect(Math.round(account.balance * 100)).toBe(books.balance);
      }),
      { numRuns: 12 },
    );
  }, 120_000);

  it('when the admin account recharges, then it has no limit and its books balance too', async () => {
    await postJson(t.app, '/PhoneRecharges', { ...rechargeBody, phone_number: phone('9009', 7) }, asAdmin);
    await untilFinished(t.database, 'admin');
    const books = await booksOf(t.database, 'admin');
    expect(books.balance).toBe(books.entries_sum);
    expect(books.refunds_owed).toBe(0);
    // Every outcome of this file was recorded when it came: none waited for a lease after a deadlock.
    expect(t.logs().filter((line) => String(line.msg).includes('not recorded'))).toEqual([]);
  });
});
