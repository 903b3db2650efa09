import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claro, createKey, createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { startTcpProxy, type TcpProxy, targetOf } from './helpers/tcp-proxy.js';

const redisTargets = process.env.TEST_REDIS_URL ? [process.env.TEST_REDIS_URL] : [];
const databaseTarget = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';
const RECHARGES_PER_MINUTE = 3;
/** A recharging client's deposit: more than its recharges here cost, so only the limit refuses them. */
const FUNDS = 1000;

function startInstance(database: TestDatabase, redisUrl: string, prefix: string): Promise<TestApp> {
  return createTestApp(database, {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    RECHARGES_PER_CLIENT_PER_MINUTE: String(RECHARGES_PER_MINUTE),
  });
}

// A write that could not tell the other instances (a revocation, a catalog change) says so, once for itself.
const UNCONFIRMED = '"msg":"could not confirm a broadcast on every instance"';

/** Warnings that mention Redis, as JSON, from line `since` on: the outage's own, or the unconfirmed writes'. */
function redisWarnings(instance: TestApp, since: number, kind: 'outage' | 'unconfirmed' = 'outage') {
  return instance
    .logs()
    .slice(since)
    .filter((line) => line.level === 40)
    .map((line) => JSON.stringify(line))
    .filter((line) => /redis/i.test(line))
    .filter((line) => line.includes(UNCONFIRMED) === (kind === 'unconfirmed'));
}

/** Recharges through each instance in turn; the statuses in order. */
async function rechargeStatuses(instances: TestApp[], key: string) {
  const statuses: number[] = [];
  for (const { app } of instances) {
    const response = await postJson(app, '/PhoneRecharges', rechargeBody, { authorization: `Bearer ${key}` });
    statuses.push(response.statusCode);
  }
  return statuses;
}

const readCatalog = (instance: TestApp, key?: string) =>
  instance.app.inject({
    method: 'GET',
    url: '/CompanyProducts?company_id=claro_11',
    ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
  });

/** Revokes a key through `on`; how long the DELETE took. */
async function revoke(on: TestApp, keyId: string) {
  const started = performance.now();
  const response = await on.app.inject({ method: 'DELETE', url: `/ApiKeys?id=${keyId}` });
  expect(response.statusCode).toBe(204);
  return performance.now() - started;
}

/** Local checks every instance must pass without Redis: catalog, recharges, limits, revocation. */
async function expectServedWithoutRedis(instance: TestApp, client: string) {
  expect((await readCatalog(instance)).json()).toEqual(claro);
  const limited = await createKey(instance.app, {
    name: client,
    client,
    scopes: ['recharges:write'],
    deposit: FUNDS,
  });
  const statuses = await rechargeStatuses([instance, instance, instance, instance], limited.key);
  expect(statuses).toEqual([201, 201, 201, 429]);
  const revoked = await createKey(instance.app, {
    name: `${client}-revoked`,
    client: `${client}-revoked`,
    scopes: ['catalog:read'],
  });
  expect((await readCatalog(instance, revoked.key)).statusCode).toBe(200);
  // Nobody else can be told: the DELETE must not wait out the acknowledgement timeout.
  expect(await revoke(instance, revoked.id)).toBeLessThan(1500);
  expect((await readCatalog(instance, revoked.key)).statusCode).toBe(401);
}

/**
 * For one describe: a database, a TCP proxy in front of Redis and the instances `start` makes, with the demo
 * catalog created through the first; afterwards all closed and the run's keys removed from Redis.
 */
function useInstancesBehindProxy(
  redisUrl: string,
  start: (at: {
    database: TestDatabase;
    proxied: string;
    prefix: string;
  }) => Promise<[TestApp, ...TestApp[]]>,
) {
  const prefix = `faults-${randomBytes(4).toString('hex')}:`;
  const state = {} as { proxy: TcpProxy; database: TestDatabase; instances: [TestApp, ...TestApp[]] };
  beforeAll(async () => {
    state.proxy = await startTcpProxy(targetOf(redisUrl, 6379));
    state.database = await createTestDatabase(databaseTarget);
    state.instances = await start({
      database: state.database,
      proxied: state.proxy.urlFor(redisUrl),
      prefix,
    });
    expect((await postJson(state.instances[0].app, '/CompanyProducts', claro)).statusCode).toBe(201);
  });
  afterAll(async () => {
    state.proxy.restore();
    for (const instance of state.instances) await instance.app.close();
    await state.proxy.close();
    await state.database.close();
    const direct = new Redis(redisUrl);
    const keys = await direct.keys(`${prefix}*`);
    if (keys.length > 0) await direct.del(...keys);
    await direct.quit();
  });
  return () => ({
    proxy: state.proxy,
    a: state.instances[0],
    b: state.instances.at(-1) ?? state.instances[0],
  });
}

describe('when Redis is configured and refuses connections from the start', () => {
  let proxy: TcpProxy;
  let database: TestDatabase;
  let instance: TestApp;
  beforeAll(async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 1 });
    proxy.refuse();
    database = await createTestDatabase('pglite');
    instance = await startInstance(database, proxy.urlFor('redis://127.0.0.1:6379'), 'faults-absent:');
  });
  afterAll(async () => {
    await database.close();
    await proxy.close();
  });

  it('then it serves, limits and revokes in process, warns once, and closes promptly', async () => {
    const created = await postJson(instance.app, '/CompanyProducts', claro);
    expect(created.statusCode).toBe(201);
    await expectServedWithoutRedis(instance, 'absent');
    for (let i = 0; i < 10; i += 1) expect((await readCatalog(instance)).statusCode).toBe(200);
    const warnings = redisWarnings(instance, 0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('Redis is unavailable');
    // The catalog creation and the revocation.
    expect(redisWarnings(instance, 0, 'unconfirmed')).toHaveLength(2);

    const started = performance.now();
    await instance.app.close();
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe.each(redisTargets)('two instances sharing Redis (%s) through a failing network', (redisUrl) => {
  const setup = useInstancesBehindProxy(redisUrl, async ({ database, proxied, prefix }) => [
    await startInstance(database, proxied, prefix),
    await startInstance(database, proxied, prefix),
  ]);

  async function expectSharedAgain(client: string) {
    const { a, b } = setup();
    const { key } = await createKey(a.app, {
      name: client,
      client,
      scopes: ['recharges:write'],
      deposit: FUNDS,
    });
    // B's second recharge is the client's fourth: refused only if B counts in the same Redis as A.
    expect(await rechargeStatuses([a, a, b, b], key)).toEqual([201, 201, 201, 429]);
  }

  it('with Redis up, the recharge budget of a client is shared by both instances', async () => {
    await expectSharedAgain('shared-before');
  });

  it('when Redis is cut and refused, each instance serves on its own and warns once', async () => {
    const { proxy, a, b } = setup();
    const since = { a: a.logs().length, b: b.logs().length };
    proxy.refuse();
    proxy.cutAll();
    await expect.poll(() => redisWarnings(a, since.a).length).toBe(1);
    await expect.poll(() => redisWarnings(b, since.b).length).toBe(1);

    await expectServedWithoutRedis(a, 'outage-a');
    await expectServedWithoutRedis(b, 'outage-b');
    for (let i = 0; i < 10; i += 1) {
      expect((await readCatalog(a)).statusCode).toBe(200);
      expect((await readCatalog(b)).statusCode).toBe(200);
    }
    for (const [instance, from] of [
      [a, since.a],
      [b, since.b],
    ] as const) {
      expect(redisWarnings(instance, from)).toHaveLength(1);
      expect(redisWarnings(instance, from)[0]).toContain('Redis is unavailable');
      expect(redisWarnings(instance, from, 'unconfirmed')).toHaveLength(1);
    }
  });

  it('when Redis returns, both instances use it again by themselves', async () => {
    const { proxy, a, b } = setup();
    const started = performance.now();
    proxy.restore();
    const isBack = (instance: TestApp) =>
      instance.logs().some((line) => JSON.stringify(line).includes('Redis is back'));
    await expect.poll(() => isBack(a) && isBack(b), { timeout: 10_000 }).toBe(true);
    expect(performance.now() - started).toBeLessThan(10_000);
    await expectSharedAgain('shared-after');

    // A revocation on one instance is in force on the other at once.
    const { id, key } = await createKey(a.app, {
      name: 'revoked-across',
      client: 'revoked-across',
      scopes: ['catalog:read'],
    });
    expect((await readCatalog(b, key)).statusCode).toBe(200);
    await revoke(a, id);
    expect((await readCatalog(b, key)).statusCode).toBe(401);
  });

  it('when Redis goes away again, each instance warns once more', async () => {
    const { proxy, a, b } = setup();
    const since = { a: a.logs().length, b: b.logs().length };
    proxy.refuse();
    proxy.cutAll();
    await expect.poll(() => redisWarnings(a, since.a).length).toBe(1);
    await expect.poll(() => redisWarnings(b, since.b).length).toBe(1);
    for (let i = 0; i < 10; i += 1) {
      expect((await readCatalog(a)).statusCode).toBe(200);
      expect((await readCatalog(b)).statusCode).toBe(200);
    }
    expect(redisWarnings(a, since.a)).toHaveLength(1);
    expect(redisWarnings(b, since.b)).toHaveLength(1);
  });
});

describe.each(redisTargets)(
  'an instance cut off from Redis while another still hears it (%s)',
  (redisUrl) => {
    // A talks to Redis directly; only B is behind the proxy.
    const setup = useInstancesBehindProxy(redisUrl, async ({ database, proxied, prefix }) => [
      await startInstance(database, redisUrl, prefix),
      await startInstance(database, proxied, prefix),
    ]);

    it('refuses a key at once that the other revoked, although every listening instance confirmed it', async () => {
      const { proxy, a, b } = setup();
      const { id, key } = await createKey(a.app, {
        name: 'roaming',
        client: 'roaming',
        scopes: ['catalog:read'],
      });
      const since = b.logs().length;
      proxy.refuse();
      proxy.cutAll();
      await expect.poll(() => redisWarnings(b, since).length).toBe(1);
      // Read on B while it hears nothing: an entry it kept now would outlive the revocation below.
      expect((await readCatalog(b, key)).statusCode).toBe(200);
      await revoke(a, id);
      expect(redisWarnings(a, 0, 'unconfirmed')).toEqual([]);
      expect((await readCatalog(b, key)).statusCode).toBe(401);
    });
  },
);

describe.each(redisTargets)(
  'an instance whose Redis stops answering but keeps the connection (%s)',
  (redisUrl) => {
    const setup = useInstancesBehindProxy(redisUrl, async ({ database, proxied, prefix }) => [
      await createTestApp(database, {
        REDIS_URL: proxied,
        REDIS_PREFIX: prefix,
        RATE_LIMIT_PER_MINUTE: '40',
      }),
    ]);

    it('counts in process after one lease times out, instead of waiting on Redis at every request', async () => {
      const { proxy, b } = setup();
      const { key } = await createKey(b.app, {
        name: 'stalled',
        client: 'stalled',
        scopes: ['catalog:read'],
      });
      expect((await readCatalog(b, key)).statusCode).toBe(200);
      proxy.blackhole();
      const slow: number[] = [];
      for (let index = 0; index < 20; index += 1) {
        const started = performance.now();
        expect((await readCatalog(b, key)).statusCode).toBe(200);
        const took = performance.now() - started;
        if (took > 500) slow.push(Math.round(took));
      }
      // The first request that needs a lease waits out the command timeout (1 s); the others do not wait.
      expect(slow.length).toBeLessThanOrEqual(2);
    }, 60_000);
  },
);
