import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pino from 'pino';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Carrier } from '../src/modules/carrier/carrier.port.js';
import { createSandboxCarrier } from '../src/modules/carrier/sandbox-carrier.js';
import { createDispatcher, createDispatcherRepository } from '../src/modules/dispatcher/index.js';
import { pricedInsertQuery } from '../src/modules/recharges/recharges.sql.js';
import { createTestApp, postJson, rechargeBody } from './helpers/app.js';
import { createTestDatabase, databaseTargets, type TestDatabase } from './helpers/databases.js';

const log = pino({ level: 'silent' });

/** Stores `count` paid recharges as the API does: pending and due now. */
async function storePending(database: TestDatabase, count: number, phoneNumber = '5511999990000') {
  const now = new Date();
  const ids = Array.from({ length: count }, () => uuidv7());
  await database.db
    .insertInto('recharges')
    .values(
      ids.map((id) => ({
        id,
        created_at: now,
        updated_at: now,
        company_id: 'claro_11',
        product_id: 'claro_10',
        phone_number: phoneNumber,
        value_cents: 1000,
        client: 'dispatch',
        status: 'pending' as const,
        failure_code: null,
        next_step: 'send' as const,
        next_attempt_at: now,
      })),
    )
    .execute();
  return ids;
}

function dispatcherOn(database: TestDatabase, carrier: Carrier, batchSize = 16) {
  return createDispatcher({
    repository: createDispatcherRepository(database.db),
    carrier,
    log,
    policy: { maxAttempts: 3, retryBaseMs: 20 },
    callTimeoutMs: 1000,
    batchSize,
    concurrency: 64,
    pollMs: 50,
  });
}

async function unfinished(database: TestDatabase) {
  const row = await database.db
    .selectFrom('recharges')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('status', 'in', ['pending', 'processing'])
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

describe.each(databaseTargets)('the dispatcher on %s', (target) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(target);
  });
  afterAll(() => database.close());

  it('shares the work of two instances without sending any reference twice', async () => {
    const ids = await storePending(database, 400);
    // Each instance has a carrier of its own, on the same books: a reference sent by both is credited twice.
    const sent = [new Set<string>(), new Set<string>()];
    const instances = sent.map((mine) => {
      const sandbox = createSandboxCarrier(database.db);
      const carrier: Carrier = {
        ...sandbox,
        send: (topUp) => {
          mine.add(topUp.reference);
          return sandbox.send(topUp);
        },
      };
      return dispatcherOn(database, carrier, 8);
    });
    for (const instance of instances) instance.start();
    await expect.poll(() => unfinished(database), { timeout: 20_000 }).toBe(0);
    await Promise.all(instances.map((instance) => instance.stop()));
    const [first, second] = sent as [Set<string>, Set<string>];
    expect(first.size + second.size).toBe(ids.length);
    expect([...first].filter((id) => second.has(id))).toEqual([]);
    const credits = await database.db
      .selectFrom('sandbox_carrier_top_ups')
      .select(['reference', (eb) => eb.fn.countAll<string>().as('credits')])
      .where('reference', 'in', ids)
      .groupBy('reference')
      .execute();
    expect(credits).toHaveLength(ids.length);
    expect(credits.every((row) => Number(row.credits) === 1)).toBe(true);
  }, 30_000);

  it('on stop, claims nothing more and finishes what it claimed: nothing is left claimed', async () => {
    await storePending(database, 50);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sandbox = createSandboxCarrier(database.db);
    let calls = 0;
    const slow: Carrier = {
      ...sandbox,
      send: async (topUp) => {
        calls += 1;
        await held;
        return sandbox.send(topUp);
      },
    };
    const dispatcher = dispatcherOn(database, slow, 10);
    dispatcher.start();
    await expect.poll(() => calls).toBeGreaterThan(0);
    const stopped = dispatcher.stop();
    release();
    await stopped;
    const inFlightAtStop = calls;
    const rows = await database.db
      .selectFrom('recharges')
      .select(['status', (eb) => eb.fn.countAll<string>().as('count')])
      .groupBy('status')
      .execute();
    const count = (status: string) => Number(rows.find((row) => row.status === status)?.count ?? 0);
    // What it had claimed is recorded; the rest is still pending, due, for any instance to take.
    expect(count('processing')).toBe(0);
    expect(count('pending')).toBe(50 - inFlightAtStop);
    expect(calls).toBe(inFlightAtStop);
  });
});

describe.each(databaseTargets)('the dispatcher claim on %s', (target) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(target);
  });
  afterAll(() => database.close());

  it('takes the oldest due rows through the due index, whatever the statistics and the dead entries', async () => {
    // Statistics taken while the table was empty; then 5 000 recharges claimed and finished, which leave
    // 10 000 dead entries in the due index until a VACUUM. Left to itself, the planner takes a bitmap scan:
    // it visits every dead entry's heap page at every claim, and never marks one dead.
    await sql`analyze recharges`.execute(database.db);
    await sql`
      insert into recharges (id, created_at, updated_at, company_id, product_id, phone_number, value_cents,
                             client, status, next_step, next_attempt_at)
      select gen_random_uuid(), statement_timestamp(), statement_timestamp(), 'claro_11', 'claro_10',
             '5511999990000', 1000, 'done', 'pending', 'send', statement_timestamp() - interval '1 hour'
      from generate_series(1, 5000)
    `.execute(database.db);
    await sql`update recharges set status = 'processing', next_step = 'query',
                                   next_attempt_at = statement_timestamp() - interval '1 hour'`.execute(
      database.db,
    );
    await sql`update recharges set status = 'completed', next_step = null, next_attempt_at = null`.execute(
      database.db,
    );
    const due = await storePending(database, 5);

    const buffers: number[] = [];
    for (let claim = 0; claim < 3; claim += 1) {
      // The buffers of a function's scan node count those its statements touched.
      const { rows } = await sql<{ 'QUERY PLAN': unknown }>`
        explain (analyze, buffers, format json) select * from recharges_claim(64, 60000)
      `.execute(database.db);
      const { Plan: plan } = planOf(rows[0]?.['QUERY PLAN']);
      buffers.push(plan['Shared Hit Blocks'] + plan['Shared Read Blocks']);
    }
    const claimed = await database.db.selectFrom('recharges').select('id').where('claims', '=', 1).execute();

    expect(claimed.map((row) => row.id).sort()).toEqual([...due].sort());
    // The first claim marks the dead entries it passes; the next ones skip them without reading the heap
    // (about 10 buffers here, against some 200 at every claim of the bitmap scan).
    expect(buffers[2]).toBeLessThan(50);
  });

  it('ignores a late record from a claim whose lease ran out and was taken over; the latest claim records', async () => {
    await sql`update recharges set status = 'completed', next_step = null, next_attempt_at = null
              where status in ('pending', 'processing')`.execute(database.db);
    const [id] = await storePending(database, 1, '5511988887777');
    const repository = createDispatcherRepository(database.db);
    const [first] = await repository.claim(10, 60_000);
    // The first claimer's lease runs out; another instance claims the recharge again.
    await sql`update recharges set next_attempt_at = statement_timestamp() where id = ${id}`.execute(
      database.db,
    );
    const [second] = await repository.claim(10, 60_000);
    expect([first?.id, second?.id, first?.claims, second?.claims]).toEqual([id, id, 1, 2]);

    const failed = { status: 'failed', failureCode: 'invalid_number', next: null } as const;
    expect(await repository.record([{ id: String(id), claims: 1, ...failed }])).toEqual([]);
    const after = await database.db
      .selectFrom('recharges')
      .select(['status', 'next_step', 'claims'])
      .where('id', '=', String(id))
      .executeTakeFirstOrThrow();
    expect(after).toEqual({ status: 'processing', next_step: 'query', claims: 2 });

    const recorded = await repository.record([
      { id: String(id), claims: 2, status: 'completed', failureCode: null, next: null },
    ]);
    expect(recorded.map((row) => [row.id, row.status])).toEqual([[id, 'completed']]);
  });
});

type ExplainedPlan = { Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } };

/** The top node of EXPLAIN's JSON, which pg parses and PGlite may leave as text. */
function planOf(value: unknown): ExplainedPlan {
  const [explained] = (typeof value === 'string' ? JSON.parse(value) : value) as ExplainedPlan[];
  if (!explained) throw new Error('EXPLAIN answered no plan');
  return explained;
}

describe.each(databaseTargets.filter((target) => target === 'postgres'))(
  'refunds of several clients on %s',
  (target) => {
    // Client pairs whose accounts an unordered refund happened to update in the opposite order to the
    // priced insert's (a deadlock every time, before refunds locked accounts in client order).
    it.each([
      ['a', 'b'],
      ['b', 'c'],
      ['c1', 'c2'],
    ])('never deadlock with a priced insert of the same clients (%s, %s)', async (first, second) => {
      const database = await createTestDatabase(target);
      const { db } = database;
      try {
        await db.insertInto('companies').values({ company_id: 'claro_11' }).execute();
        await db
          .insertInto('products')
          .values({ company_id: 'claro_11', product_id: 'claro_10', value_cents: 1000 })
          .execute();
        await db
          .insertInto('accounts')
          .values(
            [first, second].map((client) => ({ client, credit_limit_cents: null, balance_cents: 100_000 })),
          )
          .execute();
        const paid = (client: string, ending: number) => ({
          recharge: {
            id: uuidv7(),
            client,
            company_id: 'claro_11',
            product_id: 'claro_10',
            phone_number: `551199999${String(ending).padStart(4, '0')}`,
            value_cents: 1000,
          },
          claim: undefined,
        });
        await db.executeQuery(pricedInsertQuery([paid(first, 1), paid(second, 2)], null));
        const repository = createDispatcherRepository(db);
        const claimed = await repository.claim(10, 60_000);
        expect(claimed).toHaveLength(2);

        // A third transaction holds the second account, so that the refund and the insert queue behind it
        // in that order: the refund holding what it took before, the insert holding the first account.
        let release = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let holding = () => {};
        const locked = new Promise<void>((resolve) => {
          holding = resolve;
        });
        const holder = db.transaction().execute(async (trx) => {
          await sql`select 1 from accounts where client = ${second} for update`.execute(trx);
          holding();
          await held;
        });
        await locked;
        const refunding = repository.record(
          claimed.map(({ id, claims }) => ({
            id,
            claims,
            status: 'failed',
            failureCode: 'carrier_declined',
            next: null,
          })),
        );
        await sleep(300);
        const inserting = db.executeQuery(pricedInsertQuery([paid(first, 3), paid(second, 4)], null));
        await sleep(300);
        release();
        await holder;

        const settled = await Promise.allSettled([refunding, inserting]);
        expect(
          settled.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok')),
        ).toEqual(['ok', 'ok']);
        const { rows } = await sql<{ refunds: number }>`
        select count(*)::integer as refunds from ledger_entries where type = 'refund'`.execute(db);
        expect(rows[0]?.refunds).toBe(2);
      } finally {
        await database.close();
      }
    });
  },
);

describe.each(databaseTargets.filter((target) => target === 'postgres'))(
  'instances that do not dispatch, on %s',
  (target) => {
    it('wake the dispatcher of another instance through NOTIFY, not its poll', async () => {
      const api = await createTestApp(target, { SEED_DEMO_DATA: 'true', DISPATCHER: 'off' });
      try {
        // Its poll would come only after the test has ended: only a notification can wake it in time.
        const worker = await createTestApp(api.database, {
          SEED_DEMO_DATA: 'true',
          DISPATCHER: 'on',
          DISPATCHER_POLL_MS: '60000',
        });
        try {
          // The worker's LISTEN connection is opened in the background: give it a moment.
          await new Promise((resolve) => setTimeout(resolve, 500));
          const response = await postJson(api.app, '/PhoneRecharges', rechargeBody, { prefer: 'wait=5' });
          expect(response.json()).toMatchObject({ status: 'completed' });
        } finally {
          await worker.close();
        }
      } finally {
        await api.close();
      }
    });
  },
);

describe('the lifecycle while the carrier is down', () => {
  it('keeps /readyz at 200 and accepts recharges, which wait in processing and are retried', async () => {
    const t = await createTestApp(databaseTargets[0] ?? 'pglite', {
      DISPATCHER: 'on',
      SEED_DEMO_DATA: 'true',
      CARRIER: 'http',
      CARRIER_URL: 'http://127.0.0.1:9',
      CARRIER_RETRY_BASE_MS: '20',
      CARRIER_MAX_ATTEMPTS: '20',
    });
    try {
      expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200);
      const response = await postJson(t.app, '/PhoneRecharges', rechargeBody);
      expect(response.statusCode).toBe(201);
      const read = async () =>
        (await t.app.inject({ url: `/PhoneRecharges?id=${response.json().id}` })).json().status;
      await expect.poll(read).toBe('processing');
      expect((await t.app.inject({ url: '/SandboxCarrier/TopUps?reference=x' })).statusCode).toBe(404);
      const metrics = async () => (await t.app.inject({ url: '/metrics' })).body;
      await expect.poll(metrics).toMatch(/^carrier_retries_total [1-9]/m);
      expect(await metrics()).toMatch(
        /^carrier_call_duration_seconds_count\{operation="send",outcome="transient"\} [1-9]/m,
      );
      expect(await read()).toBe('processing');
    } finally {
      await t.close();
    }
  });
});

describe('the lifecycle without Redis', () => {
  it('completes recharges while the configured Redis cannot be reached', async () => {
    const t = await createTestApp(databaseTargets[0] ?? 'pglite', {
      DISPATCHER: 'on',
      SEED_DEMO_DATA: 'true',
      REDIS_URL: 'redis://127.0.0.1:9',
    });
    try {
      const response = await postJson(t.app, '/PhoneRecharges', rechargeBody, { prefer: 'wait=10' });
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({ status: 'completed' });
    } finally {
      await t.close();
    }
  });
});

describe.each(databaseTargets)('the reversal feed on %s', (target) => {
  it('never moves past a reversal whose recharge is not yet recorded as completed', async () => {
    const database = await createTestDatabase(target);
    try {
      const [early, late] = (await storePending(database, 2)) as [string, string];
      const sandbox = createSandboxCarrier(database.db);
      const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms));
      // The carrier reports the later recharge's reversal first in time; its record is not completed yet.
      const carrier: Carrier = {
        ...sandbox,
        reversalsSince: async (since) =>
          [
            { reference: late, reversedAt: at(100) },
            { reference: early, reversedAt: at(200) },
          ].filter((reversal) => reversal.reversedAt >= since),
      };
      const dispatcher = dispatcherOn(database, carrier);
      const repository = createDispatcherRepository(database.db);
      await database.db
        .updateTable('recharges')
        .set({ status: 'processing' })
        .where('id', '=', late)
        .execute();
      await database.db
        .updateTable('recharges')
        .set({ status: 'processing' })
        .where('id', '=', early)
        .execute();
      await database.db
        .updateTable('recharges')
        .set({ status: 'completed', next_step: null, next_attempt_at: null })
        .where('id', '=', early)
        .execute();

      await dispatcher.readFeed();
      const status = async (id: string) =>
        (await database.db.selectFrom('recharges').select('status').where('id', '=', id).executeTakeFirst())
          ?.status;
      expect(await status(early)).toBe('reversed');
      expect(await status(late)).toBe('processing');
      // The cursor waits at the reversal it could not apply.
      expect(await repository.feedCursor('sandbox')).toEqual(at(100));

      await database.db
        .updateTable('recharges')
        .set({ status: 'completed', next_step: null, next_attempt_at: null })
        .where('id', '=', late)
        .execute();
      await dispatcher.readFeed();
      expect(await status(late)).toBe('reversed');
      expect(await repository.feedCursor('sandbox')).toEqual(at(200));
      // Read again, nothing changes: applying a reversal twice is harmless.
      await dispatcher.readFeed();
      expect(await status(early)).toBe('reversed');
    } finally {
      await database.close();
    }
  });

  it('reads a mass reversal of more than a page at one instant', async () => {
    const database = await createTestDatabase(target);
    try {
      const ids = await storePending(database, 1101);
      const repository = createDispatcherRepository(database.db);
      const claimed = await repository.claim(2000, 60_000);
      await repository.record(
        claimed.map(({ id, claims }) => ({ id, claims, status: 'completed', failureCode: null, next: null })),
      );
      // 1 100 reversals stamped at one instant, more than the sandbox's page of 1 000, then one 3 s later.
      await sql`
        insert into sandbox_carrier_top_ups (reference, phone_number, value_cents, credited_at, reversed_at)
        select reference, '5511999990000', 1000, statement_timestamp() - interval '20 s',
               case when ordinality <= 1100 then date_trunc('second', statement_timestamp()) - interval '10 s'
                    else date_trunc('second', statement_timestamp()) - interval '7 s' end
        from unnest(${ids}::uuid[]) with ordinality as t(reference, ordinality)`.execute(database.db);
      const dispatcher = dispatcherOn(database, createSandboxCarrier(database.db));
      await dispatcher.readFeed();
      await dispatcher.readFeed();
      const { rows } = await sql<{ reversed: number }>`
        select count(*)::integer as reversed from recharges where status = 'reversed'`.execute(database.db);
      expect(rows[0]?.reversed).toBe(1101);
    } finally {
      await database.close();
    }
  });

  it('ends a feed read that is still paging when the dispatcher stops', async () => {
    const database = await createTestDatabase(target);
    try {
      // A feed that never runs dry: every page holds one more reversal, a millisecond later.
      let pages = 0;
      const carrier: Carrier = {
        ...createSandboxCarrier(database.db),
        reversalsSince: async (since) => {
          pages += 1;
          await sleep(5);
          return [{ reference: uuidv7(), reversedAt: new Date(since.getTime() + 1) }];
        },
      };
      const dispatcher = dispatcherOn(database, carrier);
      dispatcher.start();
      const reading = dispatcher.readFeed();
      await sleep(100);
      await dispatcher.stop();
      const ended = await Promise.race([reading.then(() => true), sleep(2_000).then(() => false)]);
      expect(ended).toBe(true);
      expect(pages).toBeGreaterThan(1);
    } finally {
      await database.close();
    }
  });

  it('does not lose a reversal whose recharge is recorded as completed while the feed is applied', async () => {
    const database = await createTestDatabase(target);
    try {
      const [id] = (await storePending(database, 1)) as [string];
      const repository = createDispatcherRepository(database.db);
      const [claimed] = await repository.claim(1, 60_000);
      expect(claimed?.id).toBe(id);
      // Another instance records the credit right after the feed's first statement, whichever it is.
      let recordedBetween = false;
      const db = new Proxy(database.db, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (property !== 'executeQuery') return typeof value === 'function' ? value.bind(target) : value;
          return async (...args: Parameters<typeof target.executeQuery>) => {
            const result = await target.executeQuery(...args);
            if (!recordedBetween && 'sql' in args[0] && /dispatcher_(reverse|unfinished)/.test(args[0].sql)) {
              recordedBetween = true;
              await repository.record([
                { id, claims: claimed?.claims ?? 0, status: 'completed', failureCode: null, next: null },
              ]);
            }
            return result;
          };
        },
      });
      // A later reversal, beyond the feed's overlap, lets the cursor move past this one if it is missed.
      const reversedAt = new Date(Date.now() - 60_000);
      const feed = [
        { reference: id, reversedAt },
        { reference: uuidv7(), reversedAt: new Date(reversedAt.getTime() + 30_000) },
      ];
      const carrier: Carrier = {
        ...createSandboxCarrier(database.db),
        reversalsSince: async (since) => feed.filter((reversal) => reversal.reversedAt >= since),
      };
      const dispatcher = createDispatcher({
        repository: createDispatcherRepository(db),
        carrier,
        log,
        policy: { maxAttempts: 3, retryBaseMs: 20 },
        callTimeoutMs: 1000,
        batchSize: 16,
        concurrency: 4,
        pollMs: 50,
      });
      await dispatcher.readFeed();
      await dispatcher.readFeed();
      expect(recordedBetween).toBe(true);
      const row = await database.db
        .selectFrom('recharges')
        .select('status')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row.status).toBe('reversed');
    } finally {
      await database.close();
    }
  });
});
