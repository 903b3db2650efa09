import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMemoryCatalogCache } from '../src/cache/catalog-cache.js';
import { createRedisCatalogCache } from '../src/cache/redis-catalog-cache.js';
import type { CatalogRepository } from '../src/modules/catalog/catalog.repository.js';
import { type CatalogTransaction, createCatalogService } from '../src/modules/catalog/catalog.service.js';
import { createRedisBroadcast } from '../src/redis-broadcast.js';
import { asAdmin, claro, createTestApp, postJson, putJson, type TestApp } from './helpers/app.js';

const entry = (version: string, value: string) => ({ version, etag: `"v${version}"`, value });

describe('the in-process catalog cache', () => {
  it('serves an entry until a newer version is announced, and refuses to store one read before it', async () => {
    const cache = createMemoryCatalogCache();
    await cache.set('list', entry('3', 'three'));
    expect(await cache.get('list')).toEqual(entry('3', 'three'));
    await cache.invalidate('4');
    expect(await cache.get('list')).toBeUndefined();
    // A reader that started before the write finishes after it: its entry is already stale.
    await cache.set('list', entry('3', 'late'));
    expect(await cache.get('list')).toBeUndefined();
    await cache.set('list', entry('4', 'four'));
    expect(await cache.get('list')).toEqual(entry('4', 'four'));
  });
});

describe('the committed catalog version, as each instance polls it', () => {
  it('when the polled version is newer than every announcement heard, then older entries are dropped', async () => {
    const cache = createMemoryCatalogCache();
    await cache.set('list', entry('3', 'three'));
    await cache.observe('3');
    expect(cache.get('list')).toEqual(entry('3', 'three'));
    await cache.observe('4');
    expect(cache.get('list')).toBeUndefined();
    await cache.set('list', entry('3', 'late'));
    expect(cache.get('list')).toBeUndefined();
  });

  it('when an entry is read at a newer version than the others held, then the older ones are dropped too', async () => {
    // The write at 4 was never announced here; reading another key shows it, and the poll will find nothing
    // newer than 4 to drop, so the entry read at 3 must go now.
    const cache = createMemoryCatalogCache();
    await cache.set('claro_11', entry('3', 'before the write'));
    await cache.set('vivo_11', entry('4', 'after the write'));
    await cache.observe('4');
    expect(cache.get('claro_11')).toBeUndefined();
    expect(cache.get('vivo_11')).toEqual(entry('4', 'after the write'));
  });

  it('when another instance writes without telling this one, then this one answers the new catalog within a poll', async () => {
    // Two instances without Redis on one database: no announcement can reach B, only its poll.
    const instanceA = await createTestApp('pglite');
    const instanceB = await createTestApp(instanceA.database, { CATALOG_VERSION_POLL_MS: '100' });
    try {
      const url = '/CompanyProducts?company_id=claro_11';
      expect((await postJson(instanceA.app, '/CompanyProducts', claro)).statusCode).toBe(201);
      expect((await instanceB.app.inject({ url })).json()).toEqual(claro); // B holds it in memory
      const changed = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 11 }] };
      expect((await putJson(instanceA.app, url, changed)).statusCode).toBe(200);
      await expect
        .poll(async () => (await instanceB.app.inject({ url })).json(), { timeout: 3000, interval: 50 })
        .toEqual(changed);
    } finally {
      await instanceB.close();
      await instanceA.close();
    }
  });
});

describe('catalog reads through the in-process cache', () => {
  it('when an entry is cached, then the read is answered at once (no promise), and the database read once', async () => {
    const catalog = { company_id: 'claro_11', products: [{ id: 'claro_10', value_cents: 1000 }] };
    const findCatalog = vi.fn(async () => ({ catalog, version: '7', catalogVersion: '9' }));
    const service = createCatalogService({
      cache: createMemoryCatalogCache(),
      catalogs: { findCatalog } as unknown as CatalogRepository,
      transaction: (() => {
        throw new Error('reads take no transaction');
      }) as CatalogTransaction,
    });
    const miss = service.getCatalog('claro_11');
    expect(miss).toBeInstanceOf(Promise);
    expect(await miss).toMatchObject({ value: catalog, etag: '"c7"' });
    // What the route answers a cached read with, without a trip through the microtask queue.
    expect(service.getCatalog('claro_11')).toMatchObject({ value: catalog, etag: '"c7"' });
    expect(findCatalog).toHaveBeenCalledTimes(1);
  });

  it('when a read begins after a write has answered, then it sees the write, even if a read from before is still running', async () => {
    const before = { company_id: 'claro_11', products: [{ id: 'claro_10', value_cents: 1000 }] };
    const after = { company_id: 'claro_11', products: [{ id: 'claro_10', value_cents: 1100 }] };
    let stored = before;
    let version = 5;
    let reads = 0;
    let release = () => {};
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const catalogs = {
      // The first plain read is slow: it took its snapshot before the write below.
      findCatalog: async (_companyId: string, options?: { forUpdate?: boolean }) => {
        const found = { catalog: stored, version: String(version), catalogVersion: String(version) };
        reads += 1;
        if (!options?.forUpdate && reads === 1) await slow;
        return found;
      },
      bumpVersion: async () => String(++version),
      replaceProducts: async (catalog: typeof before) => {
        stored = catalog;
      },
    } as unknown as CatalogRepository;
    const service = createCatalogService({
      cache: createMemoryCatalogCache(),
      catalogs,
      transaction: (async (work: (repositories: unknown) => unknown) =>
        work({ catalogs, audit: { append: async () => {} } })) as unknown as CatalogTransaction,
    });
    const first = service.getCatalog('claro_11');
    await service.replaceCatalog(after, { client: 'admin' } as never);
    const second = service.getCatalog('claro_11');
    release();
    await first;
    expect(await second).toMatchObject({ value: after, etag: '"c6"' });
  });
});

describe('a catalog cache whose Redis is down', () => {
  it('when Redis cannot be reached, then catalog reads and writes still work from PostgreSQL', async () => {
    const t = await createTestApp('pglite', { REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      expect((await postJson(t.app, '/CompanyProducts', claro)).statusCode).toBe(201);
      const changed = { company_id: 'claro_11', products: [] };
      expect((await putJson(t.app, '/CompanyProducts', changed)).statusCode).toBe(200);
      const read = await t.app.inject({ url: '/CompanyProducts?company_id=claro_11' });
      expect([read.statusCode, read.json()]).toEqual([200, changed]);
    } finally {
      await t.close();
    }
  });
});

const sharedTargets =
  process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL ? [process.env.TEST_REDIS_URL] : [];

describe.each(sharedTargets)('two instances on one PostgreSQL and Redis (%s)', (redisUrl) => {
  // A owns the database; B is a second instance on it.
  let instanceA: TestApp;
  let instanceB: TestApp;
  let a: FastifyInstance;
  let b: FastifyInstance;
  const prefix = `cache-${randomBytes(4).toString('hex')}:`;
  beforeAll(async () => {
    const env = { REDIS_URL: redisUrl, REDIS_PREFIX: prefix };
    instanceA = await createTestApp('postgres', env);
    instanceB = await createTestApp(instanceA.database, env);
    a = instanceA.app;
    b = instanceB.app;
    await postJson(a, '/CompanyProducts', claro, asAdmin);
  });
  afterAll(async () => {
    await instanceB?.close();
    await instanceA?.close();
  });

  it('when A acknowledges a PUT, then B answers the new catalog on its very next GET', async () => {
    const url = '/CompanyProducts?company_id=claro_11';
    for (const value of [11, 12.5, 13, 14.99, 15]) {
      const before = await b.inject({ url, headers: asAdmin }); // B holds the current catalog in memory
      const changed = { company_id: 'claro_11', products: [{ id: 'claro_10', value }] };
      expect((await putJson(a, url, changed, asAdmin)).statusCode).toBe(200);
      const after = await b.inject({
        url,
        headers: { ...asAdmin, 'if-none-match': String(before.headers.etag) },
      });
      expect([after.statusCode, after.json()]).toEqual([200, changed]);
      const list = await b.inject({ url: '/CompanyProducts', headers: asAdmin });
      expect(list.json()).toEqual([changed]);
    }
  });

  it('when a writer has lost Redis, then B, still listening, drops its cached catalog within a poll', async () => {
    const cut = await createTestApp(instanceA.database, { REDIS_URL: 'redis://127.0.0.1:1' });
    const polling = await createTestApp(instanceA.database, {
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      CATALOG_VERSION_POLL_MS: '100',
    });
    try {
      const url = '/CompanyProducts?company_id=claro_11';
      const current = (await polling.app.inject({ url, headers: asAdmin })).json();
      expect(current).toMatchObject({ company_id: 'claro_11' }); // in B's memory and in Redis now
      const changed = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 16 }] };
      expect((await putJson(cut.app, url, changed, asAdmin)).statusCode).toBe(200);
      await expect
        .poll(async () => (await polling.app.inject({ url, headers: asAdmin })).json(), {
          timeout: 3000,
          interval: 50,
        })
        .toEqual(changed);
      // The shared entry in Redis is older than the version the poll raised: A, listening, skips it too.
      expect((await a.inject({ url, headers: asAdmin })).json()).toEqual(changed);
    } finally {
      await polling.close();
      await cut.close();
    }
  });

  it('when an entry in Redis is older than the announced version, then it is not served', async () => {
    const redis = new Redis(redisUrl);
    const log = pino({ level: 'silent' });
    const channel = `${prefix}test:changed`;
    const cache = createRedisCatalogCache({
      redis,
      prefix: `${prefix}unit:`,
      broadcast: await createRedisBroadcast<string>({ redis, channel, log }),
    });
    try {
      await cache.set('list', entry('5', 'five'));
      expect(await cache.get('list')).toEqual(entry('5', 'five'));
      await cache.invalidate('6');
      expect(await cache.get('list')).toBeUndefined();
      await cache.set('list', entry('5', 'late'));
      expect(await redis.get(`${prefix}unit:catalog:entry:list`)).toContain('"five"');
      expect(await cache.get('list')).toBeUndefined();
    } finally {
      await cache.close();
      redis.disconnect();
    }
  });
});
