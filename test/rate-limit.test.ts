import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Redis as IORedis, type Redis } from 'ioredis';
import type { Response } from 'light-my-request';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createRateLimitStore, type RateLimitStore } from '../src/plugins/rate-limit-store.js';
import {
  asAdmin,
  claro,
  createKey,
  createTestApp,
  postJson,
  rechargeBody,
  TEST_ADMIN_KEY,
  type TestApp,
} from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { expectProblem } from './helpers/problems.js';
import { startTcpProxy, type TcpProxy, targetOf } from './helpers/tcp-proxy.js';

/** Each test gets an app of its own: budgets are per minute, and the admin key's is part of the test. */
async function withApp(env: Record<string, string>, run: (t: TestApp) => Promise<void>) {
  const t = await createTestApp('pglite', env);
  try {
    await run(t);
  } finally {
    await t.close();
  }
}

function limitHeaders(response: Response) {
  return {
    limit: response.headers['ratelimit-limit'],
    remaining: response.headers['ratelimit-remaining'],
    reset: Number(response.headers['ratelimit-reset']),
  };
}

/** The whole 429 problem, its detail ending with the Retry-After it was sent with. */
function expectRateLimited(response: Response, reason: string) {
  const retryAfter = Number(response.headers['retry-after']);
  expectProblem(response, 429, { code: 'rate_limited', detail: `${reason}; retry in ${retryAfter} s` });
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(response.headers['ratelimit-remaining']).toBe('0');
}

describe('rate limits, in process', () => {
  it('when a key sends more than RATE_LIMIT_PER_MINUTE requests, then 429 with Retry-After; each 200 counts down', () =>
    withApp({ RATE_LIMIT_PER_MINUTE: '3' }, async ({ app }) => {
      const seen = [];
      for (let i = 0; i < 3; i++) {
        const response = await app.inject({ method: 'GET', url: '/CompanyProducts' });
        expect(response.statusCode).toBe(200);
        seen.push(limitHeaders(response));
      }
      expect(seen.map(({ limit, remaining }) => [limit, remaining])).toEqual([
        ['3', '2'],
        ['3', '1'],
        ['3', '0'],
      ]);
      for (const { reset } of seen) expect(reset).toBeGreaterThanOrEqual(1);
      for (const { reset } of seen) expect(reset).toBeLessThanOrEqual(60);

      const refused = await app.inject({ method: 'GET', url: '/CompanyProducts' });
      expectRateLimited(refused, 'this API key may send 3 requests a minute');
      expect(refused.headers['ratelimit-limit']).toBe('3');
    }));

  it('when one key is spent, then another key, even from the same address, has a budget of its own', () =>
    withApp({ RATE_LIMIT_PER_MINUTE: '3' }, async ({ app }) => {
      const { headers: reader } = await createKey(app, {
        name: 'reader',
        client: 'acme',
        scopes: ['catalog:read'],
      });
      await app.inject({ method: 'GET', url: '/CompanyProducts' });
      await app.inject({ method: 'GET', url: '/CompanyProducts' });
      expect((await app.inject({ method: 'GET', url: '/CompanyProducts' })).statusCode).toBe(429);

      const response = await app.inject({ method: 'GET', url: '/CompanyProducts', headers: reader });
      expect(response.statusCode).toBe(200);
      expect(limitHeaders(response)).toMatchObject({ limit: '3', remaining: '2' });
    }));

  it('when a key lacks the scope, then its 403s count against it too', () =>
    withApp({ RATE_LIMIT_PER_MINUTE: '2' }, async ({ app }) => {
      const { headers: reader } = await createKey(app, {
        name: 'reader',
        client: 'acme',
        scopes: ['catalog:read'],
      });
      const forbidden = await app.inject({ method: 'GET', url: '/ApiKeys', headers: reader });
      expect(forbidden.statusCode).toBe(403);
      expect(limitHeaders(forbidden)).toMatchObject({ limit: '2', remaining: '1' });
      await app.inject({ method: 'GET', url: '/ApiKeys', headers: reader });
      const refused = await app.inject({ method: 'GET', url: '/CompanyProducts', headers: reader });
      expectRateLimited(refused, 'this API key may send 2 requests a minute');
    }));

  it('when public routes and unknown paths are called, then they count per address', () =>
    withApp({ RATE_LIMIT_PER_MINUTE: '3' }, async ({ app }) => {
      const from = (remoteAddress: string, url: string) =>
        app.inject({ method: 'GET', url, remoteAddress, headers: { authorization: undefined } });
      expect(limitHeaders(await from('10.0.0.1', '/openapi.json'))).toMatchObject({
        limit: '3',
        remaining: '2',
      });
      expect((await from('10.0.0.1', '/openapi.json')).statusCode).toBe(200);
      const missing = await from('10.0.0.1', '/nowhere');
      expect(missing.statusCode).toBe(404);
      expect(limitHeaders(missing)).toMatchObject({ remaining: '0' });
      expectRateLimited(
        await from('10.0.0.1', '/openapi.json'),
        'without an API key, this address may send 3 requests a minute',
      );
      // The platform's probes are never limited: a 429 would restart a healthy instance.
      expect((await from('10.0.0.1', '/healthz')).statusCode).toBe(200);

      expect((await from('10.0.0.2', '/openapi.json')).statusCode).toBe(200);
      // The address's anonymous budget is not its keys' budget.
      const keyed = await app.inject({ method: 'GET', url: '/CompanyProducts', remoteAddress: '10.0.0.1' });
      expect(keyed.statusCode).toBe(200);
    }));

  it('when an address passes RATE_LIMIT_PER_IP_PER_MINUTE, then 429 before any key is checked', () =>
    withApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '3' }, async ({ app }) => {
      const from = (remoteAddress: string, authorization?: string) =>
        app.inject({ method: 'GET', url: '/CompanyProducts', remoteAddress, headers: { authorization } });
      const first = await from('10.0.0.5', asAdmin.authorization);
      expect(first.statusCode).toBe(200);
      expect(first.headers['ratelimit-limit']).toBe('1200'); // the ceiling shows only on its own 429
      expect((await from('10.0.0.5', 'Bearer wrong')).statusCode).toBe(401);
      expect((await from('10.0.0.5', asAdmin.authorization)).statusCode).toBe(200);

      // A wrong key is refused with 429, not 401: the auth hook never saw it.
      expectRateLimited(await from('10.0.0.5', 'Bearer wrong'), 'this address may send 3 requests a minute');
      expect((await from('10.0.0.5', asAdmin.authorization)).statusCode).toBe(429);
      expect((await from('10.0.0.6', asAdmin.authorization)).statusCode).toBe(200);
    }));

  it('when an address is over every limit, then the platform probes from it still answer, and probes at once share one database ping', async () => {
    let pings = 0;
    const t = await createTestApp(
      'pglite',
      { RATE_LIMIT_PER_MINUTE: '2', RATE_LIMIT_PER_IP_PER_MINUTE: '3' },
      { onQuery: (text) => (pings += text.trim() === 'select 1' ? 1 : 0) },
    );
    try {
      const from = (url: string) => t.app.inject({ method: 'GET', url, remoteAddress: '10.0.0.7' });
      for (let i = 0; i < 3; i++) await from('/CompanyProducts');
      expect((await from('/CompanyProducts')).statusCode).toBe(429);
      for (let i = 0; i < 5; i++) {
        expect((await from('/healthz')).statusCode).toBe(200);
        expect((await from('/readyz')).statusCode).toBe(200);
      }
      pings = 0;
      const together = await Promise.all(Array.from({ length: 20 }, () => from('/readyz')));
      expect(together.map((response) => response.statusCode)).toEqual(Array(20).fill(200));
      expect(pings).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('when callers share an IPv6 /64, or write one IPv4 address as IPv6, then they count as one address', () =>
    withApp({ RATE_LIMIT_PER_IP_PER_MINUTE: '2' }, async ({ app }) => {
      const from = (remoteAddress: string) =>
        app.inject({ method: 'GET', url: '/CompanyProducts', remoteAddress, headers: asAdmin });
      expect((await from('2001:db8:0:7::1')).statusCode).toBe(200);
      expect((await from('2001:DB8:0:7:ffff::2')).statusCode).toBe(200);
      expect((await from('2001:db8:0:7::3')).statusCode).toBe(429);
      expect((await from('2001:db8:0:8::1')).statusCode).toBe(200); // the next /64

      expect((await from('10.0.0.9')).statusCode).toBe(200);
      expect((await from('::ffff:10.0.0.9')).statusCode).toBe(200);
      expect((await from('10.0.0.9')).statusCode).toBe(429);
    }));

  it('when an address sends many requests without a key and many wrong keys, then valid keys from it are still served', () =>
    withApp({ AUTH_FAILURES_PER_MINUTE: '3' }, async ({ app }) => {
      const { headers: reader } = await createKey(app, {
        name: 'reader',
        client: 'acme',
        scopes: ['catalog:read'],
      });
      const from = (authorization?: string) =>
        app.inject({ url: '/CompanyProducts', remoteAddress: '10.0.0.7', headers: { authorization } });
      const statuses = [];
      for (let i = 0; i < 10; i++) statuses.push((await from()).statusCode);
      for (let i = 0; i < 10; i++) statuses.push((await from(`Bearer wrong-${i}`)).statusCode);
      const otherId = `Bearer rk_${'0'.repeat(16)}_${'A'.repeat(43)}`;
      for (let i = 0; i < 10; i++) statuses.push((await from(otherId)).statusCode);
      // Requests without a key are plain 401s; wrong keys count, and past the limit they are 429s.
      expect(statuses).toEqual([...Array(13).fill(401), ...Array(17).fill(429)]);

      for (const authorization of [asAdmin.authorization, reader.authorization]) {
        const served = await from(authorization);
        expect(served.statusCode).toBe(200);
        expect(served.json()).toEqual([]);
      }
    }));

  it('when an address passes AUTH_FAILURES_PER_MINUTE wrong keys, then its wrong keys get 429 with Retry-After; others are unaffected', () =>
    withApp({ AUTH_FAILURES_PER_MINUTE: '3' }, async ({ app }) => {
      const from = (remoteAddress: string, authorization?: string) =>
        app.inject({ method: 'GET', url: '/CompanyProducts', remoteAddress, headers: { authorization } });
      expect((await from('10.0.0.7', 'Bearer wrong-1')).statusCode).toBe(401);
      expect((await from('10.0.0.7', `Bearer ${TEST_ADMIN_KEY}x`)).statusCode).toBe(401);
      expect((await from('10.0.0.7', `Bearer rk_${'1'.repeat(16)}_${'B'.repeat(43)}`)).statusCode).toBe(401);

      for (const token of ['Bearer wrong-4', `Bearer rk_${'2'.repeat(16)}_${'C'.repeat(43)}`]) {
        const locked = await from('10.0.0.7', token);
        expectRateLimited(locked, 'this address presented 3 wrong API keys in a minute');
        expect(locked.headers['ratelimit-limit']).toBe('3');
        expect(locked.headers['www-authenticate']).toBeUndefined();
      }
      // No key at all guesses nothing: still the 401 that says how to authenticate.
      expect((await from('10.0.0.7')).statusCode).toBe(401);
      // Public routes stay open to it, and other addresses are unaffected.
      const health = await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.7' });
      expect(health.statusCode).toBe(200);
      expect((await from('10.0.0.8', 'Bearer wrong-1')).statusCode).toBe(401);
      expect((await from('10.0.0.8', asAdmin.authorization)).statusCode).toBe(200);
    }));

  it('when wrong keys with one key id come from many addresses, then past the limit they get 429 from any address; the key itself passes', () =>
    withApp({ AUTH_FAILURES_PER_MINUTE: '3' }, async ({ app }) => {
      const { id, key } = await createKey(app, { name: 'victim', scopes: ['catalog:read'] });
      const guess = (remoteAddress: string, secret: string) =>
        app.inject({
          url: '/CompanyProducts',
          remoteAddress,
          headers: { authorization: `Bearer rk_${id}_${secret.repeat(43)}` },
        });
      for (const [address, secret] of [
        ['10.0.1.1', 'A'],
        ['10.0.1.2', 'B'],
        ['10.0.1.3', 'C'],
      ] as const) {
        expect((await guess(address, secret)).statusCode).toBe(401);
      }
      expectRateLimited(
        await guess('10.0.1.4', 'D'),
        'wrong keys with this key id were presented 3 times in a minute',
      );
      const served = await app.inject({
        url: '/CompanyProducts',
        remoteAddress: '10.0.1.4',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(served.statusCode).toBe(200);
      // Another key id has a count of its own.
      const other = `Bearer rk_${'3'.repeat(16)}_${'E'.repeat(43)}`;
      const elsewhere = await app.inject({
        url: '/CompanyProducts',
        remoteAddress: '10.0.1.5',
        headers: { authorization: other },
      });
      expect(elsewhere.statusCode).toBe(401);
    }));

  it('when the keys of one client make RECHARGES_PER_CLIENT_PER_MINUTE recharges, then the next is 429 and not stored', () =>
    withApp({ RECHARGES_PER_CLIENT_PER_MINUTE: '2' }, async ({ app }) => {
      expect((await postJson(app, '/CompanyProducts', claro)).statusCode).toBe(201);
      const scopes = ['recharges:write', 'recharges:read'];
      // Both clients are funded, so only the recharge limit can refuse them.
      const { headers: first } = await createKey(app, {
        name: 'acme-1',
        client: 'acme',
        scopes,
        deposit: 100,
      });
      const { headers: second } = await createKey(app, { name: 'acme-2', client: 'acme', scopes });
      const { headers: other } = await createKey(app, {
        name: 'globex',
        client: 'globex',
        scopes,
        deposit: 100,
      });

      const made = await postJson(app, '/PhoneRecharges', rechargeBody, first);
      expect(made.statusCode).toBe(201);
      // The headers describe whichever limit is closer: here the client's, not the key's 1200.
      expect(limitHeaders(made)).toMatchObject({ limit: '2', remaining: '1' });
      expect((await postJson(app, '/PhoneRecharges', rechargeBody, second)).statusCode).toBe(201);
      expectRateLimited(
        await postJson(app, '/PhoneRecharges', rechargeBody, first),
        "this API key's client may make 2 recharges a minute",
      );
      expect((await postJson(app, '/PhoneRecharges', rechargeBody, other)).statusCode).toBe(201);

      const read = await app.inject({ method: 'GET', url: '/PhoneRecharges?phone_number=5511999999999' });
      expect(read.statusCode).toBe(200);
      expect(limitHeaders(read).limit).toBe('1200');
      expect(read.json()).toHaveLength(3);
    }));

  it('when Redis is down, then limits are counted in process and nothing answers 500', () =>
    withApp({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_PER_MINUTE: '3' }, async ({ app, logs }) => {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await app.inject('/CompanyProducts')).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(logs().filter((line) => (line.level as number) >= 50)).toEqual([]);
    }));
});

describe('the rate-limit store', () => {
  /** Enough of ioredis for the leases: MULTI INCRBY + PEXPIRE on one counter, failing while `isFailing`. */
  function fakeRedis() {
    const fake = { status: 'ready', isFailing: true, leases: 0 };
    const totals = new Map<string, number>();
    const multi = () => {
      let by = 0;
      let key = '';
      const chain = {
        incrby: (name: string, amount: number) => {
          key = name;
          by = amount;
          return chain;
        },
        pexpire: () => chain,
        exec: async () => {
          if (fake.isFailing) throw new Error('Command timed out');
          fake.leases += 1;
          totals.set(key, (totals.get(key) ?? 0) + by);
          return [
            [null, totals.get(key)],
            [null, 1],
          ];
        },
      };
      return chain;
    };
    return Object.assign(fake, { multi });
  }

  it('when Redis calls fail, then it counts in process, warns once per outage, and goes back to Redis', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    // Redis windows are minutes of the clock: start well inside one, so that the 2 s below never cross it.
    vi.setSystemTime(new Date('2026-03-02T12:00:10.000Z'));
    try {
      const redis = fakeRedis();
      const warn = vi.fn();
      const log = { warn } as unknown as FastifyBaseLogger;
      const store = createRateLimitStore({ redis: redis as unknown as Redis, keyPrefix: 't:', log });

      expect(await store.hit('k', 60_000, 100)).toMatchObject({ count: 1 });
      expect(await store.hit('k', 60_000, 100)).toMatchObject({ count: 2 });
      expect(warn).toHaveBeenCalledTimes(1);

      redis.isFailing = false;
      // For two seconds after a failed lease, hits are counted in process without asking Redis.
      expect(store.hit('k', 60_000, 100)).toMatchObject({ count: 3 });
      expect(redis.leases).toBe(0);
      // Then one lease in the background asks again; the hit that starts it is still counted in process.
      vi.setSystemTime(Date.now() + 2_001);
      expect(store.hit('k', 60_000, 100)).toMatchObject({ count: 4 });
      await vi.waitFor(() => expect(redis.leases).toBe(1));
      // Back on Redis (the hits of the outage still count): the lease's five tokens (a twentieth of 100)
      // answer the next hit in process, without a promise.
      expect(store.hit('k', 60_000, 100)).toMatchObject({ count: 5 });

      redis.isFailing = true;
      // The tokens a background lease fetched while it was up go first (6–10); once they are spent and a
      // lease fails, it counts in process again, from where that counter was, warned once more.
      const counts = [];
      for (let hit = 0; hit < 12; hit++) counts.push((await store.hit('k', 60_000, 100)).count);
      expect(counts).toEqual([6, 7, 8, 9, 10, 5, 6, 7, 8, 9, 10, 11]);
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('when instances share a counter, then together they admit at most the limit, and one alone exactly', async () => {
    // One minute of the clock for the whole test: a window boundary in the middle would count two budgets.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-02T12:00:10.000Z'));
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const redis = fakeRedis();
    redis.isFailing = false;
    const log = { warn: vi.fn() } as unknown as FastifyBaseLogger;
    const [a, b] = [0, 1].map(() =>
      createRateLimitStore({ redis: redis as unknown as Redis, keyPrefix: 't:', log }),
    ) as [RateLimitStore, RateLimitStore];
    let admitted = 0;
    for (let hit = 0; hit < 300; hit++) {
      const window = await (hit % 3 === 0 ? a : b).hit('shared', 60_000, 100);
      if (window.count <= 100) admitted += 1;
    }
    expect(admitted).toBeLessThanOrEqual(100);
    expect(admitted).toBeGreaterThanOrEqual(100 - 5);

    const alone = createRateLimitStore({ redis: redis as unknown as Redis, keyPrefix: 't:', log });
    let admittedAlone = 0;
    for (let hit = 0; hit < 300; hit++) {
      if ((await alone.hit('alone', 60_000, 100)).count <= 100) admittedAlone += 1;
    }
    expect(admittedAlone).toBe(100);
    // A lease per five hits at most, not a round trip per hit.
    expect(redis.leases).toBeLessThan(300 / 5 + 10);
  });
});

// Shared Redis only when CI (or a developer) provides one; the tests above always run.
const redisTargets = process.env.TEST_REDIS_URL ? [process.env.TEST_REDIS_URL] : [];

describe.each(redisTargets)('rate limits shared through Redis at %s', (redisUrl) => {
  let database: TestDatabase;
  const opened: TestApp[] = [];
  const proxies: TcpProxy[] = [];
  beforeAll(async () => {
    database = await createTestDatabase('pglite');
  });
  afterAll(async () => {
    for (const instance of opened) await instance.close();
    for (const proxy of proxies) await proxy.close();
    await database.close();
  });

  let lastPrefix = '';
  /** Instances of one deployment: one database, one Redis prefix, their own processes' memory. */
  async function instances(urls: string[], env: Record<string, string>) {
    const prefix = `test-rl-${randomBytes(6).toString('hex')}:`;
    lastPrefix = prefix;
    const built = [];
    for (const url of urls) {
      const instance = await createTestApp(database, {
        ...env,
        REDIS_URL: url,
        REDIS_PREFIX: prefix,
        LOG_LEVEL: 'silent',
      });
      opened.push(instance);
      built.push(instance.app);
    }
    return built;
  }

  it('when two instances serve one key, then they share its budget and the lockout, which spares valid keys', async () => {
    const [a, b] = await instances([redisUrl, redisUrl], {
      RATE_LIMIT_PER_MINUTE: '4',
      AUTH_FAILURES_PER_MINUTE: '2',
    });
    if (!a || !b) throw new Error('two instances expected');
    const { headers: operator } = await createKey(a, { name: 'operator', client: 'ops', scopes: ['admin'] });
    const remaining = [];
    for (const app of [b, a, b]) {
      remaining.push((await app.inject('/CompanyProducts')).headers['ratelimit-remaining']);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    expect((await a.inject('/CompanyProducts')).statusCode).toBe(429);
    expect((await b.inject('/CompanyProducts')).statusCode).toBe(429);

    const from = (app: FastifyInstance, authorization: string, remoteAddress = '10.1.0.1') =>
      app.inject({ url: '/ApiKeys', remoteAddress, headers: { authorization } });
    expect((await from(a, 'Bearer wrong')).statusCode).toBe(401);
    expect((await from(b, 'Bearer wrong')).statusCode).toBe(401);
    expectRateLimited(await from(a, 'Bearer wrong'), 'this address presented 2 wrong API keys in a minute');
    expect((await from(b, operator.authorization)).statusCode).toBe(200);

    const guess = `Bearer rk_${randomBytes(8).toString('hex')}_${'A'.repeat(43)}`;
    expect((await from(a, guess, '10.1.0.2')).statusCode).toBe(401);
    expect((await from(b, guess, '10.1.0.3')).statusCode).toBe(401);
    expectRateLimited(
      await from(a, guess, '10.1.0.4'),
      'wrong keys with this key id were presented 2 times in a minute',
    );
  });

  it('when Redis goes away and comes back, then limits stay in force and are shared again', async () => {
    const proxy = await startTcpProxy(targetOf(redisUrl, 6379));
    proxies.push(proxy);
    const [direct, proxied] = await instances([redisUrl, proxy.urlFor(redisUrl)], {
      RATE_LIMIT_PER_MINUTE: '200',
    });
    if (!direct || !proxied) throw new Error('two instances expected');
    const remainingOn = async (app: FastifyInstance) => {
      const response = await app.inject('/CompanyProducts');
      expect(response.statusCode).toBe(200);
      return Number(response.headers['ratelimit-remaining']);
    };
    // Each leases ten tokens (a twentieth of 200) and shows the other's lease as spent.
    expect([await remainingOn(direct), await remainingOn(proxied)]).toEqual([199, 189]);

    proxy.refuse();
    proxy.cutAll();
    // The client notices the lost connection on its next turns of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Cut off, the instance counts alone, from its own empty counter; the other goes on with its tokens.
    expect([await remainingOn(proxied), await remainingOn(proxied)]).toEqual([199, 198]);
    expect(await remainingOn(direct)).toBe(198);

    proxy.restore();
    // Back on Redis by itself: once its tokens are spent, it leases again from the shared counter.
    const reader = new IORedis(redisUrl);
    try {
      const shared = async () => {
        const [key] = await reader.keys(`${lastPrefix}rl:key:bootstrap:*`);
        return key ? Number(await reader.get(key)) : 0;
      };
      await vi.waitFor(
        async () => {
          for (let hit = 0; hit < 10; hit++) await remainingOn(proxied);
          expect(await shared()).toBeGreaterThanOrEqual(30);
        },
        { timeout: 10_000, interval: 250 },
      );
    } finally {
      reader.disconnect();
    }
  });
});
