import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/database.js';
import { claro, createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { expectProblem } from './helpers/problems.js';
import { startTcpProxy, type TcpProxy, targetOf } from './helpers/tcp-proxy.js';

const pgTargets = process.env.TEST_DATABASE_URL ? [process.env.TEST_DATABASE_URL] : [];

// docs/api.md (Errors): a database that cannot be reached is a 503 within 5 s.
const SPEC_BOUND_MS = 5000;

/**
 * A catalog read, a recharge and readiness, at once and each timed: all three need the database. The
 * catalog is cached in process, so the company read must be one this app has not read yet.
 */
async function timedRequests(app: FastifyInstance, companyId: string) {
  const requests = {
    catalog: () => app.inject({ method: 'GET', url: `/CompanyProducts?company_id=${companyId}` }),
    recharge: () => postJson(app, '/PhoneRecharges', rechargeBody),
    readiness: () => app.inject({ method: 'GET', url: '/readyz' }),
  };
  return Promise.all(
    Object.entries(requests).map(async ([name, send]) => {
      const started = performance.now();
      const response = await send();
      return { name, response, ms: performance.now() - started };
    }),
  );
}

function expectUnavailable(answers: Awaited<ReturnType<typeof timedRequests>>) {
  for (const { name, response, ms } of answers) {
    expect({ name, status: response.statusCode, retryAfter: response.headers['retry-after'] }).toEqual({
      name,
      status: 503,
      retryAfter: '5',
    });
    expect(response.json()).toMatchObject({ status: 503, code: 'unavailable' });
    expect(ms).toBeLessThan(SPEC_BOUND_MS);
  }
}

describe('when PostgreSQL accepts connections and never answers', () => {
  let proxy: TcpProxy;
  let database: Database;
  let t: TestApp;
  beforeAll(async () => {
    // Nothing behind it: in blackhole mode the proxy never connects onward.
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 1 });
    proxy.blackhole();
    database = await createDatabase({ url: proxy.urlFor('postgres://postgres@127.0.0.1:1/none') });
    t = await createTestApp(database);
  });
  afterAll(async () => {
    await t.close();
    await database.close();
    await proxy.close();
  });

  it('then catalog reads, recharges and /readyz answer 503 with Retry-After within 5 s; /healthz 200', async () => {
    expectUnavailable(await timedRequests(t.app, 'claro_11'));
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(t.logs().filter((line) => line.level === 50)).toEqual([]);
  });
});

describe.each(pgTargets)('PostgreSQL behind a failing network (%s)', (url) => {
  let direct: TestDatabase;
  let proxy: TcpProxy;
  let proxied: Database;
  let t: TestApp;
  beforeAll(async () => {
    direct = await createTestDatabase('postgres');
    proxy = await startTcpProxy(targetOf(url, 5432));
    proxied = await createDatabase({ url: proxy.urlFor(url), schema: direct.schema, poolSize: 4 });
    t = await createTestApp(proxied);
    for (const company_id of ['claro_11', 'blackholed_11', 'refused_11']) {
      const created = await postJson(t.app, '/CompanyProducts', { ...claro, company_id });
      expect(created.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await t.close();
    await proxied.close();
    await proxy.close();
    await direct.close();
  });

  async function storedFor(key: string, phoneNumber: string) {
    const keyed = await direct.db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).execute();
    const recharges = await direct.db
      .selectFrom('recharges')
      .select('id')
      .where('phone_number', '=', phoneNumber)
      .execute();
    return { keyed: keyed.map((row) => row.recharge_id), recharges: recharges.map((row) => row.id) };
  }

  it('when the connection breaks as the insert is sent, then 503, no key is bound, and the retry creates it', async () => {
    const key = `cut-${randomUUID()}`;
    const body = { ...rechargeBody, phone_number: '5511977770001' };
    let cuts = 0;
    proxy.onChunk((chunk, direction, link) => {
      if (direction !== 'toTarget' || !chunk.includes('recharges_priced_insert(')) return 'forward';
      proxy.onChunk(undefined);
      cuts += 1;
      link.cut();
      return 'drop';
    });
    const failed = await postJson(t.app, '/PhoneRecharges', body, { 'idempotency-key': key });
    expect(cuts).toBe(1);
    expectProblem(failed, 503, {
      code: 'unavailable',
      detail: 'the service is temporarily unavailable; retry later',
    });
    expect(failed.headers['retry-after']).toBe('5');
    expect(await storedFor(key, body.phone_number)).toEqual({ keyed: [], recharges: [] });

    const retry = await postJson(t.app, '/PhoneRecharges', body, { 'idempotency-key': key });
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    const { id } = retry.json() as { id: string };
    expect(await storedFor(key, body.phone_number)).toEqual({ keyed: [id], recharges: [id] });
  });

  async function expectServed(companyId: string) {
    const answers = await timedRequests(t.app, companyId);
    expect(answers.map(({ name, response }) => [name, response.statusCode])).toEqual([
      ['catalog', 200],
      ['recharge', 201],
      ['readiness', 200],
    ]);
  }

  /** A catalog read: claro_11 was read before the outage, so the cache may answer it. */
  async function expectCachedOrUnavailable() {
    const started = performance.now();
    const response = await t.app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' });
    expect(performance.now() - started).toBeLessThan(SPEC_BOUND_MS);
    expect([200, 503]).toContain(response.statusCode);
  }

  it('when it blackholes, then 503 within 5 s, never 500; restored, the same app serves again', async () => {
    await expectServed('claro_11');
    proxy.blackhole();
    expectUnavailable(await timedRequests(t.app, 'blackholed_11'));
    expectUnavailable(await timedRequests(t.app, 'blackholed_11'));
    await expectCachedOrUnavailable();
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    proxy.restore();
    await expectServed('blackholed_11');
    await expectServed('blackholed_11');
    expect(t.logs().filter((line) => line.level === 50)).toEqual([]);
  });

  it('when it blackholes while recharges queue behind the statements in flight, then each is a 503 within 5 s', async () => {
    await expectServed('claro_11');
    proxy.blackhole();
    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const started = performance.now();
        const response = await postJson(t.app, '/PhoneRecharges', rechargeBody);
        return { status: response.statusCode, ms: performance.now() - started };
      }),
    );
    proxy.restore();
    expect(answers.map(({ status }) => status)).toEqual(Array(10).fill(503));
    for (const { ms } of answers) expect(ms).toBeLessThan(SPEC_BOUND_MS);
    await expectServed('claro_11');
  });

  it('when it refuses connections, then 503 at once, never 500; restored, the same app serves again', async () => {
    await expectServed('claro_11');
    proxy.refuse();
    proxy.cutAll();
    expectUnavailable(await timedRequests(t.app, 'refused_11'));
    await expectCachedOrUnavailable();
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    proxy.restore();
    await expectServed('refused_11');
    expect(t.logs().filter((line) => line.level === 50)).toEqual([]);
  });
});
