import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAccountRepository } from '../src/modules/accounts/accounts.repository.js';
import { createRechargeRepository } from '../src/modules/recharges/recharges.repository.js';
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
import { createTestDatabase, databaseTargets, emptyRecharges } from './helpers/databases.js';
import { expectProblem } from './helpers/problems.js';

type Account = {
  client: string;
  balance: number;
  pending: number;
  credit_limit: number | null;
  available: number | null;
  limits: { daily_value: number | null; daily_count: number | null; same_phone_cooldown_seconds: number };
  updated_at: string;
};
type Entry = {
  id: string;
  client: string;
  type: string;
  amount: number;
  balance_after: number;
  recharge_id: string | null;
  note: string | null;
  created_at: string;
};

const NO_LIMITS = { daily_value: null, daily_count: null, same_phone_cooldown_seconds: 0 };
let clients = 0;

describe.each(databaseTargets)('accounts and the ledger on %s', (target) => {
  let t: TestApp;
  let shop: TestKey;
  beforeAll(async () => {
    t = await createTestApp(target, {
      SEED_DEMO_DATA: 'true',
      RECHARGES_PER_CLIENT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
    });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await emptyRecharges(t.database.db);
    clients += 1;
    shop = await createKey(t.app, {
      name: `shop_${clients}`,
      scopes: ['recharges:write', 'recharges:read', 'accounts:read'],
    });
  });

  const account = async (key = shop) =>
    (await t.app.inject({ url: '/Accounts', headers: key.headers })).json() as Account;
  const recharge = (body: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    postJson(t.app, '/PhoneRecharges', { ...rechargeBody, ...body }, { ...shop.headers, ...headers });
  const entries = async (key = shop) =>
    (await t.app.inject({ url: '/LedgerEntries?limit=500', headers: key.headers })).json() as Entry[];
  const setLimits = (body: unknown, client = shop.client) =>
    putJson(t.app, `/Accounts?client=${client}`, body, asAdmin);

  it('when a client gets its first key, then its account exists, empty and without credit', async () => {
    const own = await account();
    expect(own).toEqual({
      client: shop.client,
      balance: 0,
      pending: 0,
      credit_limit: 0,
      available: 0,
      limits: NO_LIMITS,
      updated_at: expect.any(String),
    });
    const all = (await t.app.inject({ url: '/Accounts', headers: asAdmin })).json() as Account[];
    expect(all.map((each) => each.client)).toContain(shop.client);
    expect(all.find((each) => each.client === 'admin')).toMatchObject({
      credit_limit: null,
      available: null,
    });
    const one = await t.app.inject({ url: `/Accounts?client=${shop.client}`, headers: asAdmin });
    expect(one.json()).toEqual(own);
  });

  it('when the account cannot pay, then 422 insufficient_funds, nothing is stored and the key stays free', async () => {
    const refused = await recharge({}, { 'idempotency-key': 'first' });
    expectProblem(refused, 422, {
      code: 'insufficient_funds',
      detail: `the account of ${shop.client} cannot pay 10.00; see GET /Accounts`,
    });
    const listed = await t.app.inject({
      url: `/PhoneRecharges?phone_number=${rechargeBody.phone_number}`,
      headers: shop.headers,
    });
    expect(listed.json()).toEqual([]);
    expect(await entries()).toEqual([]);

    await depositTo(t.app, shop.client, 10);
    const paid = await recharge({}, { 'idempotency-key': 'first' });
    expect(paid.statusCode).toBe(201);
    expect(paid.headers['idempotent-replayed']).toBeUndefined();
    expect(await account()).toMatchObject({ balance: 0, pending: 10, available: 0 });
  });

  it('when a recharge is accepted, then the debit is entered with it, and the balance is the sum of entries', async () => {
    await depositTo(t.app, shop.client, 25.5);
    const made = (await recharge()).json() as { id: string };
    const [debit, deposit] = await entries();
    expect(deposit).toMatchObject({ type: 'deposit', amount: 25.5, balance_after: 25.5, recharge_id: null });
    expect(debit).toMatchObject({ type: 'recharge', amount: -10, balance_after: 15.5, recharge_id: made.id });
    expect(Number(debit?.id)).toBeGreaterThan(Number(deposit?.id));
    expect(await account()).toMatchObject({ balance: 15.5, pending: 10, available: 15.5 });
  });

  it('when a credit limit is set, then the balance may go below zero down to it and no further', async () => {
    const response = await setLimits({ credit_limit: 20, limits: NO_LIMITS });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ credit_limit: 20, available: 20 });
    expect((await recharge()).statusCode).toBe(201);
    expect((await recharge({ product_id: 'claro_20', value: 20 })).statusCode).toBe(422);
    expect((await recharge()).statusCode).toBe(201);
    expect((await recharge()).statusCode).toBe(422);
    expect(await account()).toMatchObject({ balance: -20, available: 0, credit_limit: 20 });
  });

  it('when the bootstrap admin recharges, then there is no limit and the debit is still entered', async () => {
    const made = await postJson(t.app, '/PhoneRecharges', rechargeBody, asAdmin);
    expect(made.statusCode).toBe(201);
    const admin = (await t.app.inject({ url: '/Accounts?client=admin', headers: asAdmin })).json() as Account;
    expect(admin).toMatchObject({ balance: -10, credit_limit: null, available: null });
    const [debit] = (
      await t.app.inject({ url: '/LedgerEntries?client=admin', headers: asAdmin })
    ).json() as Entry[];
    expect(debit).toMatchObject({ type: 'recharge', amount: -10, recharge_id: made.json().id });
  });

  it('when a client reads accounts, then only its own: another client and every-client reads are refused', async () => {
    const other = await t.app.inject({ url: '/Accounts?client=admin', headers: shop.headers });
    expect(other.statusCode).toBe(403);
    expect(other.json().code).toBe('forbidden');
    const own = await t.app.inject({ url: `/Accounts?client=${shop.client}`, headers: shop.headers });
    expect(own.json()).toMatchObject({ client: shop.client });
    const otherEntries = await t.app.inject({ url: '/LedgerEntries?client=admin', headers: shop.headers });
    expect(otherEntries.statusCode).toBe(403);
    const noScope = await createKey(t.app, { name: `reader_${clients}`, scopes: ['recharges:read'] });
    expect((await t.app.inject({ url: '/Accounts', headers: noScope.headers })).statusCode).toBe(403);
    expect((await t.app.inject({ url: '/LedgerEntries', headers: noScope.headers })).statusCode).toBe(403);
  });

  it('when a client has never had a key, then its account, its entries and a deposit to it are 404', async () => {
    expectProblem(await t.app.inject({ url: '/Accounts?client=nobody', headers: asAdmin }), 404, {
      code: 'not_found',
      detail: 'client nobody has no account (it has never had a key)',
    });
    expectProblem(await t.app.inject({ url: '/LedgerEntries?client=nobody', headers: asAdmin }), 404, {
      code: 'not_found',
      detail: 'client nobody has no account (it has never had a key)',
    });
    // A client with an account and no entries yet is an empty page, not a 404.
    const quiet = await createKey(t.app, { name: `quiet_${clients}`, scopes: ['accounts:read'] });
    const none = await t.app.inject({ url: `/LedgerEntries?client=${quiet.client}`, headers: asAdmin });
    expect(none.statusCode).toBe(200);
    expect(none.json()).toEqual([]);
    const deposit = await postJson(t.app, '/LedgerEntries', { client: 'nobody', type: 'deposit', amount: 5 });
    expect(deposit.statusCode).toBe(404);
    expect((await setLimits({ credit_limit: 0, limits: NO_LIMITS }, 'nobody')).statusCode).toBe(404);
  });

  it.each([
    [{ type: 'deposit', amount: 0 }, '/amount'],
    [{ type: 'deposit', amount: -5 }, '/amount'],
    [{ type: 'adjustment', amount: 0, note: 'x' }, '/amount'],
    [{ type: 'adjustment', amount: 5 }, '/note'],
    [{ type: 'deposit', amount: 1.005 }, '/amount'],
    [{ type: 'deposit', amount: 100_000_000.01 }, '/amount'],
    [{ type: 'refund', amount: 5 }, '/type'],
    [{ type: 'deposit', amount: '5' }, '/amount'],
  ])('when an entry is %j, then 400 names %s and nothing is entered', async (body, path) => {
    const response = await postJson(t.app, '/LedgerEntries', { client: shop.client, ...body });
    expect(response.statusCode).toBe(400);
    expect((response.json() as { errors: { path: string }[] }).errors.map((error) => error.path)).toContain(
      path,
    );
    expect(await entries()).toEqual([]);
  });

  it('when an adjustment would take the balance below the credit limit, then 422 and nothing changes', async () => {
    await depositTo(t.app, shop.client, 30);
    const refused = await postJson(t.app, '/LedgerEntries', {
      client: shop.client,
      type: 'adjustment',
      amount: -30.01,
      note: 'chargeback',
    });
    expectProblem(refused, 422, {
      code: 'insufficient_funds',
      detail: `an adjustment of -30.01 would take ${shop.client} below its credit limit`,
    });
    const made = await postJson(t.app, '/LedgerEntries', {
      client: shop.client,
      type: 'adjustment',
      amount: -30,
      note: 'chargeback',
    });
    expect(made.json()).toMatchObject({
      type: 'adjustment',
      amount: -30,
      balance_after: 0,
      note: 'chargeback',
    });
    expect(await account()).toMatchObject({ balance: 0 });
  });

  it('when a deposit is retried with its Idempotency-Key, then it is entered once', async () => {
    const body = { client: shop.client, type: 'deposit', amount: 50, note: 'wire 1' };
    const first = await postJson(t.app, '/LedgerEntries', body, { 'idempotency-key': 'wire-1' });
    const again = await postJson(t.app, '/LedgerEntries', body, { 'idempotency-key': 'wire-1' });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const changed = await postJson(
      t.app,
      '/LedgerEntries',
      { ...body, amount: 60 },
      { 'idempotency-key': 'wire-1' },
    );
    expect(changed.statusCode).toBe(422);
    expect(changed.json().code).toBe('idempotency_key_reused');
    const racing = await Promise.all(
      Array.from({ length: 10 }, () =>
        postJson(t.app, '/LedgerEntries', { ...body, note: 'wire 2' }, { 'idempotency-key': 'wire-2' }),
      ),
    );
    expect(racing.every((response) => [201, 409].includes(response.statusCode))).toBe(true);
    expect(await account()).toMatchObject({ balance: 100 });
    expect((await entries()).length).toBe(2);
  });

  it('when deposits, adjustments and limits change, then the audit trail has each, by whom', async () => {
    await depositTo(t.app, shop.client, 12);
    await postJson(t.app, '/LedgerEntries', {
      client: shop.client,
      type: 'adjustment',
      amount: -2,
      note: 'fee',
    });
    await setLimits({ credit_limit: 5, limits: { ...NO_LIMITS, daily_count: 3 } });
    const events = (await t.app.inject({ url: '/AuditEvents?limit=3', headers: asAdmin })).json() as {
      action: string;
      target: string;
      actor_key_id: string;
      before: unknown;
      after: unknown;
    }[];
    expect(events.map((event) => [event.action, event.target, event.actor_key_id])).toEqual([
      ['account.update', shop.client, 'bootstrap'],
      ['ledger.adjustment', shop.client, 'bootstrap'],
      ['ledger.deposit', shop.client, 'bootstrap'],
    ]);
    expect(events[0]?.before).toMatchObject({ credit_limit_cents: 0, daily_count: null });
    expect(events[0]?.after).toMatchObject({ credit_limit_cents: 500, daily_count: 3 });
  });

  it('when entries are listed, then newest first, paginated with Link, and a bad cursor is a 400', async () => {
    for (const amount of [1, 2, 3, 4, 5]) await depositTo(t.app, shop.client, amount);
    const first = await t.app.inject({ url: '/LedgerEntries?limit=2', headers: shop.headers });
    expect((first.json() as Entry[]).map((entry) => entry.amount)).toEqual([5, 4]);
    const next = /<([^>]+)>; rel="next"/.exec(String(first.headers.link))?.[1];
    const second = await t.app.inject({ url: String(next), headers: shop.headers });
    expect((second.json() as Entry[]).map((entry) => entry.amount)).toEqual([3, 2]);
    const bad = await t.app.inject({ url: '/LedgerEntries?cursor=nonsense', headers: shop.headers });
    expect(bad.statusCode).toBe(400);
  });

  it('when a limit is null, then it is no limit, the cooldown included', async () => {
    const limits = { daily_value: null, daily_count: null, same_phone_cooldown_seconds: null };
    expect((await setLimits({ credit_limit: 50, limits })).statusCode).toBe(200);
    expect(await account()).toMatchObject({ credit_limit: 50, limits: NO_LIMITS });
  });

  it('when limits are malformed, then 400 and the account is unchanged', async () => {
    for (const body of [
      { credit_limit: -1, limits: NO_LIMITS },
      { credit_limit: 0.001, limits: NO_LIMITS },
      { credit_limit: 0, limits: { ...NO_LIMITS, same_phone_cooldown_seconds: -1 } },
      { credit_limit: 0, limits: { ...NO_LIMITS, daily_count: 1.5 } },
      { credit_limit: 0 },
      { credit_limit: 0, limits: NO_LIMITS, extra: 1 },
    ]) {
      expect((await setLimits(body)).statusCode).toBe(400);
    }
    expect((await account()).credit_limit).toBe(0);
  });

  describe('velocity limits', () => {
    beforeEach(() => depositTo(t.app, shop.client, 1000));

    it('when a recharge would pass daily_count, then 422 daily_limit_exceeded', async () => {
      await setLimits({ credit_limit: 0, limits: { ...NO_LIMITS, daily_count: 2 } });
      expect((await recharge()).statusCode).toBe(201);
      expect((await recharge()).statusCode).toBe(201);
      expectProblem(await recharge(), 422, {
        code: 'daily_limit_exceeded',
        detail:
          'this recharge would take the account past its daily limit (a calendar day in America/Sao_Paulo); see GET /Accounts',
      });
    });

    it('when a recharge would pass daily_value, then 422; one that fits still goes', async () => {
      await setLimits({ credit_limit: 0, limits: { ...NO_LIMITS, daily_value: 25 } });
      expect((await recharge({ product_id: 'claro_20', value: 20 })).statusCode).toBe(201);
      expect((await recharge()).json().code).toBe('daily_limit_exceeded');
      await setLimits({ credit_limit: 0, limits: { ...NO_LIMITS, daily_value: 30 } });
      expect((await recharge()).statusCode).toBe(201);
    });

    it('when concurrent recharges would together pass a daily limit, then only those within it are accepted', async () => {
      await setLimits({ credit_limit: 0, limits: { ...NO_LIMITS, daily_count: 7 } });
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          recharge({ phone_number: `55119${String(index).padStart(8, '0')}` }),
        ),
      );
      expect(responses.filter((response) => response.statusCode === 201)).toHaveLength(7);
      expect(new Set(responses.filter((r) => r.statusCode !== 201).map((r) => r.json().code))).toEqual(
        new Set(['daily_limit_exceeded']),
      );
    });

    it('when the same number is recharged within the cooldown, then 422 with Retry-After', async () => {
      await setLimits({ credit_limit: 0, limits: { ...NO_LIMITS, same_phone_cooldown_seconds: 600 } });
      expect((await recharge()).statusCode).toBe(201);
      const refused = await recharge();
      expect(refused.json().code).toBe('phone_recently_recharged');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(590);
      expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(600);
      expect((await recharge({ phone_number: '5511988887777' })).statusCode).toBe(201);
    });

    it('when concurrent recharges go to one number within the cooldown, then exactly one is accepted', async () => {
      await setLimits({ credit_limit: 0, limits: { ...NO_LIMITS, same_phone_cooldown_seconds: 60 } });
      const responses = await Promise.all(Array.from({ length: 20 }, () => recharge()));
      expect(responses.filter((response) => response.statusCode === 201)).toHaveLength(1);
      expect(await account()).toMatchObject({ balance: 990 });
    });

    it('when a refused recharge shares a statement with a later one to its number, then the later one is judged alone', async () => {
      await setLimits({
        credit_limit: 0,
        limits: { ...NO_LIMITS, daily_value: 25, same_phone_cooldown_seconds: 600 },
      });
      // One statement in flight: the first goes alone, the next two share the following statement.
      const repository = createRechargeRepository(t.database.db, {
        batching: { maxSize: 64, maxInFlight: 1 },
      });
      const priced = (phone_number: string, product_id: string, value_cents: number) =>
        repository.insertPriced({
          id: uuidv7(),
          client: shop.client,
          company_id: 'claro_11',
          product_id,
          phone_number,
          value_cents,
        });
      const outcomes = await Promise.all([
        priced('5511911112222', 'claro_10', 1000),
        priced('5511933334444', 'claro_20', 2000), // 10 + 20 passes the day's 25
        priced('5511933334444', 'claro_10', 1000), // 10 + 10 fits, and the number has no accepted recharge
      ]);
      expect(outcomes.map((outcome) => outcome.outcome)).toEqual([
        'created',
        'daily_limit_exceeded',
        'created',
      ]);
      expect(await account()).toMatchObject({ balance: 980 });
    });

    it('when the day is counted, then it is the calendar day in America/Sao_Paulo', async () => {
      expect((await recharge()).statusCode).toBe(201);
      const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date());
      const { rows } = await sql<{ day: string; count: number }>`
        select to_char(day, 'YYYY-MM-DD') as day, count from account_days where client = ${shop.client}`.execute(
        t.database.db,
      );
      expect(rows).toEqual([{ day: today, count: 1 }]);
    });
  });
});

describe.each(process.env.TEST_DATABASE_URL ? ['postgres' as const] : [])(
  'the list of accounts on %s',
  (target) => {
    it("when the database sorts text by a language's rules, then accounts are still listed in code-point order", async () => {
      const database = await createTestDatabase(target);
      try {
        const { db } = database;
        // As on a database created with an ICU locale: 'Shop_B' sorts after '_x' there, before it in "C".
        await sql`alter table account_days drop constraint account_days_client_fkey`.execute(db);
        await sql`alter table ledger_entries drop constraint ledger_entries_client_fkey`.execute(db);
        await sql`alter table accounts alter column client type text collate "en-US-x-icu"`.execute(db);
        await sql`insert into accounts (client) values ('zeta'), ('_x'), ('Shop_B')`.execute(db);
        const listed = await createAccountRepository(db).list();
        expect(listed.map((account) => account.client)).toEqual(['Shop_B', '_x', 'admin', 'zeta']);
      } finally {
        await database.close();
      }
    });
  },
);
