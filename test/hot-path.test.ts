import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asAdmin,
  claro,
  createKey,
  createTestApp,
  postJson,
  putJson,
  rechargeBody,
  type TestApp,
} from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { startTcpProxy, targetOf } from './helpers/tcp-proxy.js';

type Statement = { sql: string; parameters: readonly unknown[] };

// What a request costs in database round trips: every statement sent, BEGIN and COMMIT included.
describe.each(databaseTargets)('database round trips per request on %s', (target) => {
  let t: TestApp;
  let app: FastifyInstance;
  const statements: Statement[] = [];
  async function countStatements(work: () => Promise<unknown>) {
    const before = statements.length;
    await work();
    return statements.slice(before);
  }

  beforeAll(async () => {
    t = await createTestApp(
      target,
      {},
      { onQuery: (text, parameters) => statements.push({ sql: text, parameters }) },
    );
    app = t.app;
    await postJson(app, '/CompanyProducts', claro, asAdmin);
  });
  afterAll(() => t?.close());

  it('when the catalog is cached and the key known, then a catalog GET and a 304 cost no database round trip', async () => {
    const { headers: key } = await createKey(app, {
      name: 'catalog-reader',
      scopes: ['catalog:read'],
      deposit: 1000,
    });
    const url = '/CompanyProducts?company_id=claro_11';
    const first = await countStatements(() => app.inject({ url, headers: key }));
    expect(first.length).toBeGreaterThan(0); // the key and the catalog are read once
    let etag = '';
    const cached = await countStatements(async () => {
      const response = await app.inject({ url, headers: key });
      expect(response.json()).toEqual(claro);
      etag = String(response.headers.etag);
    });
    expect(cached).toEqual([]);
    const notModified = await countStatements(async () => {
      const response = await app.inject({ url, headers: { ...key, 'if-none-match': etag } });
      expect(response.statusCode).toBe(304);
    });
    expect(notModified).toEqual([]);
    const list = await countStatements(() => app.inject({ url: '/CompanyProducts', headers: key }));
    const listAgain = await countStatements(() => app.inject({ url: '/CompanyProducts', headers: key }));
    expect([list.length > 0, listAgain]).toEqual([true, []]);
  });

  it('when a catalog write is acknowledged, then the next read is the new catalog, read once from the database', async () => {
    const url = '/CompanyProducts?company_id=claro_11';
    await app.inject({ url, headers: asAdmin });
    const changed = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 12.5 }] };
    expect((await putJson(app, url, changed, asAdmin)).statusCode).toBe(200);
    const reread = await countStatements(async () => {
      expect((await app.inject({ url, headers: asAdmin })).json()).toEqual(changed);
    });
    expect(reread).toHaveLength(1);
    await putJson(app, url, claro, asAdmin);
  });

  it('when a known key makes a recharge with an Idempotency-Key, then it is one statement', async () => {
    const { headers: key } = await createKey(app, {
      name: 'one-recharger',
      scopes: ['recharges:write'],
      deposit: 1000,
    });
    await app.inject({ url: '/PhoneRecharges?phone_number=5511999999999', headers: key }); // key now known
    const post = await countStatements(async () => {
      const response = await postJson(app, '/PhoneRecharges', rechargeBody, {
        ...key,
        'idempotency-key': 'hot-1',
      });
      expect(response.statusCode).toBe(201);
    });
    expect(post).toHaveLength(1);
    expect(post[0]?.sql).toMatch(/recharges_priced_insert/);
    const replay = await countStatements(() =>
      postJson(app, '/PhoneRecharges', rechargeBody, { ...key, 'idempotency-key': 'hot-1' }),
    );
    expect(replay).toHaveLength(1);
  });

  it('when recharges arrive together, then each is in one statement, and on PostgreSQL they share them', async () => {
    const { headers: key } = await createKey(app, {
      name: 'burst-recharger',
      scopes: ['recharges:write'],
      deposit: 1000,
    });
    await app.inject({ url: '/PhoneRecharges?phone_number=5511999999999', headers: key }); // key now known
    const posts = await countStatements(async () => {
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, index) =>
          postJson(app, '/PhoneRecharges', rechargeBody, { ...key, 'idempotency-key': `together-${index}` }),
        ),
      );
      expect(answers.map((answer) => answer.statusCode)).toEqual(Array(12).fill(201));
      expect(new Set(answers.map((answer) => answer.json().id)).size).toBe(12);
    });
    // Each recharge is in exactly one statement: the budget of one round trip, or a share of one.
    expect(posts.every((statement) => /recharges_priced_insert/.test(statement.sql))).toBe(true);
    const sizes = posts.map((statement) => (statement.parameters[0] as unknown[]).length);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(12);
    // On PostgreSQL two go at once (RECHARGE_BATCH_IN_FLIGHT) and the rest queue behind them and share.
    // PGlite answers in process before the next request arrives, so there each usually goes alone.
    if (target === 'postgres') expect(posts.length).toBeLessThan(12);
  });

  it('when ten requests miss the same cold entry at once, then the database is read once', async () => {
    const url = '/CompanyProducts?company_id=claro_11';
    // A write empties the cache; the key is already known.
    await putJson(app, url, claro, asAdmin);
    const reads = await countStatements(() =>
      Promise.all(Array.from({ length: 10 }, () => app.inject({ url, headers: asAdmin }))),
    );
    expect(reads).toHaveLength(1);
  });
});

const postgresTargets = databaseTargets.filter((target) => target === 'postgres');

describe.each(postgresTargets)('the phone number listing as the table grows (%s)', (target) => {
  it('is an index range scan, for a client and for admin', async () => {
    const statements: Statement[] = [];
    const { app, database, close } = await createTestApp(
      target,
      {},
      { onQuery: (text, parameters) => statements.push({ sql: text, parameters }) },
    );
    try {
      await sql`
        insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents, client,
                               status, updated_at)
        select gen_random_uuid(), now() - (n || ' seconds')::interval, 'claro_11', 'claro_10',
               '55119' || lpad((n % 2000)::text, 8, '0'), 1000, 'client_' || (n % 7), 'completed', now()
        from generate_series(1, 100000) as n`.execute(database.db);
      await sql`analyze recharges`.execute(database.db);
      const { headers: key } = await createKey(app, {
        name: 'listing-reader',
        scopes: ['recharges:read'],
        deposit: 1000,
      });
      for (const headers of [key, asAdmin]) {
        const before = statements.length;
        const response = await app.inject({
          url: '/PhoneRecharges?phone_number=5511900000042&limit=20',
          headers,
        });
        expect(response.statusCode).toBe(200);
        const listing = statements.slice(before).find((statement) => /from "recharges"/.test(statement.sql));
        if (!listing) throw new Error('the listing query was not seen');
        const { rows } = await sql<{ 'QUERY PLAN': unknown }>`explain (format json) ${sql.raw(
          inline(listing),
        )}`.execute(database.db);
        const plan = JSON.stringify(rows[0]?.['QUERY PLAN']);
        // One of the two (…, phone_number, created_at, id) indexes, never the whole table.
        expect(plan).toMatch(
          /"Node Type":"(Bitmap Index|Index|Index Only) Scan"[^}]*"Index Name":"recharges_\w*phone_number_created_at_id_idx"/,
        );
        expect(plan).not.toMatch(/Seq Scan/);
      }
    } finally {
      await close();
    }
  });
});

/** The statement with its parameters written in, for EXPLAIN (values here are plain strings and numbers). */
function inline({ sql: text, parameters }: Statement): string {
  return text.replace(/\$(\d+)/g, (_match, index: string) => {
    const value = parameters[Number(index) - 1];
    return typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`;
  });
}

const redisTargets = process.env.TEST_REDIS_URL ? [process.env.TEST_REDIS_URL] : [];

// What a request costs in Redis round trips, counted at a TCP proxy in front of Redis.
describe.each(redisTargets)('Redis round trips per request with REDIS_URL at %s', (redisUrl) => {
  it('when the catalog is cached, then GETs and recharge POSTs make no Redis round trip of their own', async () => {
    const proxy = await startTcpProxy(targetOf(redisUrl, 6379));
    let commands = 0;
    proxy.onChunk((chunk, direction) => {
      // Every command a client sends is a RESP array: one `*` at the start of a line.
      if (direction === 'toTarget') commands += chunk.toString('latin1').split(/(?:^|\r\n)\*/).length - 1;
      return 'forward';
    });
    const { app, close } = await createTestApp('pglite', {
      REDIS_URL: proxy.urlFor(redisUrl),
      REDIS_PREFIX: `hot-${randomBytes(4).toString('hex')}:`,
      SEED_DEMO_DATA: 'true',
      RATE_LIMIT_PER_MINUTE: '12000',
      RECHARGES_PER_CLIENT_PER_MINUTE: '12000',
    });
    try {
      const url = '/CompanyProducts?company_id=claro_11';
      // The first answers lease the window's first tokens and fill the cache.
      for (let warm = 0; warm < 5; warm++)
        expect((await app.inject({ url, headers: asAdmin })).statusCode).toBe(200);
      await postJson(app, '/PhoneRecharges', rechargeBody, asAdmin);
      const before = commands;
      const firstWindow = Math.floor(Date.now() / 60_000);
      for (let request = 0; request < 400; request++) {
        expect((await app.inject({ url, headers: asAdmin })).statusCode).toBe(200);
      }
      for (let request = 0; request < 100; request++) {
        expect((await postJson(app, '/PhoneRecharges', rechargeBody, asAdmin)).statusCode).toBe(201);
      }
      // Leases of a twentieth of each limit (600 of 12 000 for the key and the client, per address too),
      // four commands each (MULTI, INCRBY, PEXPIRE, EXEC): a handful for 500 requests, not several each.
      // Windows are clock minutes: requests that run into the next one lease its first tokens as well.
      const windows = Math.floor(Date.now() / 60_000) - firstWindow + 1;
      expect(commands - before).toBeLessThanOrEqual(16 * windows);
    } finally {
      await close();
      await proxy.close();
    }
  });
});
