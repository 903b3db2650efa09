import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { InjectOptions, Response } from 'light-my-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claro, createTestApp, postJson, rechargeBody, TEST_ADMIN_KEY, type TestApp } from './helpers/app.js';
import { type DatabaseTarget, databaseTargets } from './helpers/databases.js';

type CreatedKey = { id: string; client: string; key: string };
type Recharge = { id: string };
const ALL_BUT_ADMIN = ['catalog:read', 'catalog:write', 'recharges:read', 'recharges:write'];
const SHOP_SCOPES = ['recharges:read', 'recharges:write'];
const MISSING_ID = '01900000-0000-7000-8000-000000000000';
const PROBLEM_FIELDS = ['code', 'detail', 'request_id', 'status', 'title', 'type'];
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const sansRequestId = (response: Response) => ({ ...response.json(), request_id: 'x' });
const json = (method: 'POST' | 'PUT', url: string, body: unknown, headers = {}): InjectOptions => ({
  method,
  url,
  headers: { 'content-type': 'application/json', ...headers },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});

async function createKey(app: FastifyInstance, name: string, scopes: string[], client?: string) {
  const response = await postJson(app, '/ApiKeys', { name, scopes, ...(client ? { client } : {}) });
  expect(response.statusCode).toBe(201);
  return response.json() as CreatedKey;
}

async function withApp(
  target: DatabaseTarget,
  env: Record<string, string>,
  run: (t: TestApp) => Promise<void>,
) {
  const t = await createTestApp(target, env);
  try {
    await run(t);
  } finally {
    await t.close();
  }
}

function expectProblem(response: Response, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(response.json()).toMatchObject({ status, code, request_id: response.headers['x-request-id'] });
}

/** Every route and its methods, from Fastify's own route tree (nested paths joined). */
function servedRoutes(app: FastifyInstance): [path: string, methods: string[]][] {
  const routes: [string, string[]][] = [];
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    parents.length = (match[1] ?? '').length / 4;
    const path = `${parents.join('')}${match[2]}`;
    parents.push(match[2] ?? '');
    if (match[3]) routes.push([path, match[3].split(', ')]);
  }
  return routes;
}

describe.each(databaseTargets)('OWASP API Security Top 10 (2023) on %s', (target) => {
  describe('API1 broken object level authorization', () => {
    // Pins: every read of a recharge (by id, by listing, by cursor) is filtered by the caller's client.
    let t: TestApp;
    let a: CreatedKey;
    let b: CreatedKey;
    beforeAll(async () => {
      t = await createTestApp(target);
      await postJson(t.app, '/CompanyProducts', claro);
      a = await createKey(t.app, 'shop-a', SHOP_SCOPES, 'client-a');
      b = await createKey(t.app, 'shop-b', SHOP_SCOPES, 'client-b');
    });
    afterAll(() => t.close());
    const recharge = async (key: string, phone: string) => {
      const response = await postJson(
        t.app,
        '/PhoneRecharges',
        { ...rechargeBody, phone_number: phone },
        bearer(key),
      );
      expect(response.statusCode).toBe(201);
      return response.json() as Recharge;
    };
    const get = (url: string, key: string) => t.app.inject({ url, headers: bearer(key) });

    it("when B asks for A's recharge by id, then the very 404 of a missing id, and no listing shows it", async () => {
      const ofA = await recharge(a.key, '5511999999999');
      expect((await t.app.inject({ url: `/PhoneRecharges?id=${ofA.id}` })).json()).toEqual(ofA);
      const hidden = await get(`/PhoneRecharges?id=${ofA.id}`, b.key);
      const missing = await get(`/PhoneRecharges?id=${MISSING_ID}`, b.key);
      expectProblem(hidden, 404, 'not_found');
      expect(sansRequestId(hidden)).toEqual(sansRequestId(missing));
      expect(sansRequestId(await get(`/PhoneRecharges?id=${ofA.id.toUpperCase()}`, b.key))).toEqual(
        sansRequestId(missing),
      );
      for (const phone of ['5511999999999', '+55 (11) 99999-9999']) {
        const listing = await get(`/PhoneRecharges?phone_number=${encodeURIComponent(phone)}`, b.key);
        expect(listing.json()).toEqual([]);
      }
    });

    it("when B pages with a cursor from A's listing, then B gets only B's rows", async () => {
      const phone = '5521988887777';
      const a1 = await recharge(a.key, phone);
      await recharge(a.key, phone);
      const b1 = await recharge(b.key, phone);
      await recharge(a.key, phone);
      const pageOfA = await get(`/PhoneRecharges?phone_number=${phone}&limit=1`, a.key);
      expect(pageOfA.json()).toEqual([a1]);
      const next = /^<([^>]+)>; rel="next"$/.exec(String(pageOfA.headers.link))?.[1];
      expect(next).toMatch(/cursor=/);
      const asB = await get(String(next), b.key);
      expect(asB.statusCode).toBe(200);
      expect(asB.json()).toEqual([b1]);
      expect(asB.headers.link).toBeUndefined();
      const lastOfA = await get(`/PhoneRecharges?phone_number=${phone}&limit=2`, a.key);
      const pastB = /cursor=([^&>]+)/.exec(String(lastOfA.headers.link))?.[1];
      const pastA2 = await get(`/PhoneRecharges?phone_number=${phone}&cursor=${pastB}`, b.key);
      expect(pastA2.json()).toEqual([b1]);
    });
  });

  describe('API2 broken authentication', () => {
    // Pins: one indistinguishable 401, keys only in the header, only digests at rest, a lockout for guessers.
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(target, { AUTH_FAILURES_PER_MINUTE: '5' });
    });
    afterAll(() => t.close());
    const from = (remoteAddress: string, authorization?: string, url = '/CompanyProducts') =>
      t.app.inject({ url, remoteAddress, headers: { authorization } });

    it('when the key is missing, wrong or revoked, then the same 401 body and WWW-Authenticate', async () => {
      const revoked = await createKey(t.app, 'to-revoke', ['catalog:read']);
      expect((await from('198.51.100.1', `Bearer ${revoked.key}`)).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'DELETE', url: `/ApiKeys?id=${revoked.id}` })).statusCode).toBe(
        204,
      );
      const wrongSecret = `rk_${revoked.id}_${'A'.repeat(43)}`;
      const refusals = [];
      for (const authorization of [
        undefined,
        'Bearer not-a-key',
        `Bearer ${wrongSecret}`,
        `Bearer ${revoked.key}`,
      ])
        refusals.push(await from('198.51.100.1', authorization));
      for (const refused of refusals) {
        expectProblem(refused, 401, 'unauthenticated');
        expect(refused.headers['www-authenticate']).toBe('Bearer realm="recharge-api"');
        expect(sansRequestId(refused)).toEqual(sansRequestId(refusals[0] as Response));
      }
    });

    it('when a valid key is in the query string, then 401 even beside a valid header', async () => {
      const valid = await createKey(t.app, 'in-url', ['catalog:read']);
      for (const parameter of ['api_key', 'access_token', 'key']) {
        const refused = await t.app.inject({
          url: `/CompanyProducts?${parameter}=${valid.key}`,
          remoteAddress: '198.51.100.2',
          headers: bearer(valid.key),
        });
        expectProblem(refused, 401, 'unauthenticated');
        expect(refused.body).not.toContain(valid.key);
      }
    });

    it('when keys are made, then the api_keys table holds their SHA-256 and nothing that reveals them', async () => {
      const created = await createKey(t.app, 'stored', ['catalog:read']);
      const rows = await t.database.db.selectFrom('api_keys').selectAll().execute();
      const row = rows.find(({ id }) => id === created.id);
      const digest = createHash('sha256').update(created.key).digest();
      expect(Buffer.from(row?.key_hash ?? []).equals(digest)).toBe(true);
      const text = (value: unknown) =>
        value instanceof Uint8Array
          ? `${Buffer.from(value).toString('hex')} ${Buffer.from(value).toString('base64')}`
          : JSON.stringify(value);
      const dump = rows.flatMap((stored) => Object.values(stored).map(text)).join('\n');
      for (const secret of [created.key, created.key.slice(20), TEST_ADMIN_KEY])
        expect(dump).not.toContain(secret);
      const audit = JSON.stringify(await t.database.db.selectFrom('audit_events').selectAll().execute());
      for (const secret of [created.key.slice(20), digest.toString('hex'), digest.toString('base64')])
        expect(audit).not.toContain(secret);
    });

    it('when an address fails AUTH_FAILURES_PER_MINUTE times, then it gets 429 before any key is checked', async () => {
      const valid = await createKey(t.app, 'victim', ['catalog:read']);
      const guesser = '203.0.113.7';
      for (let i = 0; i < 5; i++)
        expect((await from(guesser, `Bearer rk_${valid.id}_${String(i).padStart(43, 'A')}`)).statusCode).toBe(
          401,
        );
      for (const authorization of [`Bearer ${valid.key}`, `Bearer ${TEST_ADMIN_KEY}`, 'Bearer wrong']) {
        const locked = await from(guesser, authorization);
        expectProblem(locked, 429, 'rate_limited');
        expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      // Without TRUST_PROXY a forged X-Forwarded-For is no way out of the lockout.
      const forged = await t.app.inject({
        url: '/CompanyProducts',
        remoteAddress: guesser,
        headers: { ...bearer(valid.key), 'x-forwarded-for': '192.0.2.55' },
      });
      expect(forged.statusCode).toBe(429);
      expect((await from('198.51.100.99', `Bearer ${valid.key}`)).statusCode).toBe(200);
      expect((await from(guesser, undefined, '/healthz')).statusCode).toBe(200);
    });
  });

  describe('API3 broken object property level authorization', () => {
    // Pins: closed request schemas (no mass assignment) and closed response schemas (nothing unlisted sent).
    let t: TestApp;
    let shop: CreatedKey;
    beforeAll(async () => {
      t = await createTestApp(target);
      await postJson(t.app, '/CompanyProducts', claro);
      shop = await createKey(t.app, 'shop', ALL_BUT_ADMIN, 'client-a');
    });
    afterAll(() => t.close());
    const state = async () => ({
      catalogs: (await t.app.inject('/CompanyProducts')).json(),
      recharges: await t.database.db.selectFrom('recharges').selectAll().execute(),
      keys: (await t.app.inject('/ApiKeys')).json(),
    });

    it.each([
      ['POST', '/CompanyProducts', { company_id: 'vivo_11', products: [], owner: 'me' }, '/owner'],
      [
        'POST',
        '/CompanyProducts',
        { company_id: 'vivo_11', products: [{ id: 'v', value: 1, cost: 0 }] },
        '/products/0/cost',
      ],
      ['PUT', '/CompanyProducts?company_id=claro_11', { ...claro, created_at: 'x' }, '/created_at'],
      ['POST', '/PhoneRecharges', { ...rechargeBody, client: 'client-b' }, '/client'],
      ['POST', '/PhoneRecharges', { ...rechargeBody, id: MISSING_ID }, '/id'],
      ['POST', '/PhoneRecharges', { ...rechargeBody, created_at: '2019-02-01T13:00:00.000Z' }, '/created_at'],
      [
        'POST',
        '/ApiKeys',
        { name: 'x', scopes: ['catalog:read'], key: `rk_${'0'.repeat(16)}_${'A'.repeat(43)}` },
        '/key',
      ],
      ['POST', '/ApiKeys', { name: 'x', scopes: ['catalog:read'], key_hash: '00' }, '/key_hash'],
      ['POST', '/ApiKeys', { name: 'x', scopes: ['catalog:read'], id: '0123456789abcdef' }, '/id'],
    ] as const)(
      'when %s %s carries an extra field, then 400 names %s and nothing changes',
      async (method, url, body, path) => {
        const before = await state();
        const headers = url === '/ApiKeys' ? {} : bearer(shop.key);
        const refused = await t.app.inject(json(method, url, body, headers));
        expectProblem(refused, 400, 'invalid_request');
        expect(refused.json().errors).toEqual([{ path, message: 'is not allowed' }]);
        expect(await state()).toEqual(before);
      },
    );

    it('when recharges, catalogs and keys are returned, then with exactly their documented properties', async () => {
      // SPEC §2 allows a later `status` on recharges; nothing else.
      const keysOf = (value: object) =>
        Object.keys(value)
          .filter((name) => name !== 'status')
          .sort();
      const RECHARGE = ['company_id', 'created_at', 'id', 'phone_number', 'product_id', 'value'];
      const made = await postJson(t.app, '/PhoneRecharges', rechargeBody, bearer(shop.key));
      const { id } = made.json() as Recharge;
      const byId = await t.app.inject({ url: `/PhoneRecharges?id=${id}`, headers: bearer(shop.key) });
      const listed = await t.app.inject({ url: '/PhoneRecharges?phone_number=5511999999999' });
      for (const recharge of [made.json(), byId.json(), ...listed.json()])
        expect(keysOf(recharge)).toEqual(RECHARGE);
      const created = await createKey(t.app, 'shown-once', ['catalog:read']);
      expect(keysOf(created)).toEqual(['client', 'created_at', 'id', 'key', 'name', 'scopes']);
      const keys = await t.app.inject('/ApiKeys');
      for (const key of keys.json())
        expect(keysOf(key)).toEqual(['client', 'created_at', 'id', 'name', 'scopes']);
      expect(keys.body).not.toContain(created.key.slice(20));
      for (const catalog of (await t.app.inject('/CompanyProducts')).json()) {
        expect(keysOf(catalog)).toEqual(['company_id', 'products']);
        for (const product of catalog.products) expect(keysOf(product)).toEqual(['id', 'value']);
      }
    });
  });

  describe('API4 unrestricted resource consumption', () => {
    // Pins: bounded bodies, page sizes, product lists and request rates.
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(target, { BODY_LIMIT: '65536' });
    });
    afterAll(() => t.close());
    const products = (count: number) => Array.from({ length: count }, (_, i) => ({ id: `p${i}`, value: 1 }));

    it.each([
      ['/CompanyProducts', { company_id: 'big', products: [], pad: 'x'.repeat(70_000) }],
      ['/PhoneRecharges', { ...rechargeBody, pad: 'x'.repeat(70_000) }],
      ['/ApiKeys', { name: 'big', scopes: ['admin'], pad: 'x'.repeat(70_000) }],
    ])('when a body to %s is over BODY_LIMIT, then 413 and nothing is stored', async (url, body) => {
      expectProblem(await postJson(t.app, url, body), 413, 'payload_too_large');
      expect((await t.app.inject('/CompanyProducts')).json()).toEqual([]);
      expect((await t.app.inject('/ApiKeys')).json()).toEqual([]);
    });

    it('when a page over 500 or a cursor over 256 characters is asked for, then 400', async () => {
      const phone = '/PhoneRecharges?phone_number=5511999999999';
      expect((await t.app.inject(`${phone}&limit=500`)).statusCode).toBe(200);
      for (const url of [
        `${phone}&limit=501`,
        `${phone}&limit=0`,
        `${phone}&cursor=${'A'.repeat(257)}`,
        '/AuditEvents?limit=501',
      ])
        expectProblem(await t.app.inject(url), 400, 'invalid_request');
    });

    it('when a catalog has more than 1000 products, then 400; 1000 are fine', async () => {
      const refused = await postJson(t.app, '/CompanyProducts', {
        company_id: 'huge',
        products: products(1001),
      });
      expectProblem(refused, 400, 'invalid_request');
      expect(refused.json().errors).toEqual([{ path: '/products', message: expect.any(String) }]);
      const accepted = await postJson(t.app, '/CompanyProducts', {
        company_id: 'huge',
        products: products(1000),
      });
      expect(accepted.statusCode).toBe(201);
    });

    it('when a key sends more than RATE_LIMIT_PER_MINUTE requests, then 429 with Retry-After', () =>
      withApp(target, { RATE_LIMIT_PER_MINUTE: '3' }, async ({ app }) => {
        const reader = await createKey(app, 'reader', ['catalog:read']);
        for (let i = 0; i < 3; i++)
          expect(
            (await app.inject({ url: '/CompanyProducts', headers: bearer(reader.key) })).statusCode,
          ).toBe(200);
        const refused = await app.inject({ url: '/CompanyProducts', headers: bearer(reader.key) });
        expectProblem(refused, 429, 'rate_limited');
        expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
        expect((await app.inject('/CompanyProducts')).statusCode).toBe(200);
      }));
  });

  describe('API5 broken function level authorization', () => {
    // Pins: every function checks its own scope, before the body is read; /ApiKeys and /AuditEvents need admin.
    let t: TestApp;
    let everyButAdmin: CreatedKey;
    beforeAll(async () => {
      t = await createTestApp(target);
      await postJson(t.app, '/CompanyProducts', claro);
      everyButAdmin = await createKey(t.app, 'almost-admin', ALL_BUT_ADMIN, 'client-a');
    });
    afterAll(() => t.close());
    const expectForbidden = (response: Response, scope: string) => {
      expectProblem(response, 403, 'forbidden');
      expect(response.json().detail).toBe(`this API key lacks the ${scope} scope`);
    };

    it('when a key with every scope but admin manages keys or reads the audit trail, then 403 and nothing changes', async () => {
      const keysBefore = (await t.app.inject('/ApiKeys')).json();
      const as = bearer(everyButAdmin.key);
      const requests: InjectOptions[] = [
        json('POST', '/ApiKeys', { name: 'escalate', client: 'client-b', scopes: ['admin'] }, as),
        json('POST', '/ApiKeys', '{"name":', as),
        { url: '/ApiKeys', headers: as },
        { method: 'DELETE', url: `/ApiKeys?id=${everyButAdmin.id}`, headers: as },
        { url: '/AuditEvents', headers: as },
      ];
      for (const request of requests) expectForbidden(await t.app.inject(request), 'admin');
      expect((await t.app.inject('/ApiKeys')).json()).toEqual(keysBefore);
    });

    it('when a catalog:read key writes the catalog, or a recharges:read key recharges, then 403 and nothing changes', async () => {
      const reader = bearer((await createKey(t.app, 'catalog-reader', ['catalog:read'])).key);
      const lookOnly = bearer((await createKey(t.app, 'recharge-reader', ['recharges:read'])).key);
      const changed = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 0.01 }] };
      expectForbidden(
        await t.app.inject(json('POST', '/CompanyProducts', { ...changed, company_id: 'x' }, reader)),
        'catalog:write',
      );
      expectForbidden(
        await t.app.inject(json('PUT', '/CompanyProducts?company_id=claro_11', changed, reader)),
        'catalog:write',
      );
      expectForbidden(
        await t.app.inject({
          method: 'DELETE',
          url: '/CompanyProducts?company_id=claro_11',
          headers: reader,
        }),
        'catalog:write',
      );
      expectForbidden(
        await t.app.inject(json('POST', '/PhoneRecharges', rechargeBody, lookOnly)),
        'recharges:write',
      );
      expect((await t.app.inject('/CompanyProducts')).json()).toEqual([claro]);
      expect(await t.database.db.selectFrom('recharges').selectAll().execute()).toEqual([]);
    });
  });

  describe('API6 unrestricted access to sensitive business flows', () => {
    // Pins: all keys of one client share one recharge budget, so more keys do not buy more recharges.
    it('when a client goes over RECHARGES_PER_CLIENT_PER_MINUTE with two keys, then 429, nothing stored; others unaffected', () =>
      withApp(target, { RECHARGES_PER_CLIENT_PER_MINUTE: '2' }, async (t) => {
        await postJson(t.app, '/CompanyProducts', claro);
        const a1 = bearer((await createKey(t.app, 'a-till-1', SHOP_SCOPES, 'client-a')).key);
        const a2 = bearer((await createKey(t.app, 'a-till-2', SHOP_SCOPES, 'client-a')).key);
        const b = bearer((await createKey(t.app, 'b-till', SHOP_SCOPES, 'client-b')).key);
        expect((await postJson(t.app, '/PhoneRecharges', rechargeBody, a1)).statusCode).toBe(201);
        expect((await postJson(t.app, '/PhoneRecharges', rechargeBody, a2)).statusCode).toBe(201);
        for (const key of [a1, a2]) {
          const refused = await postJson(
            t.app,
            '/PhoneRecharges',
            { ...rechargeBody, phone_number: '5521988887777' },
            key,
          );
          expectProblem(refused, 429, 'rate_limited');
          expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        }
        expect((await postJson(t.app, '/PhoneRecharges', rechargeBody, b)).statusCode).toBe(201);
        const stored = await t.database.db
          .selectFrom('recharges')
          .select('client')
          .orderBy('created_at')
          .execute();
        expect(stored).toEqual([{ client: 'client-a' }, { client: 'client-a' }, { client: 'client-b' }]);
        expect(
          (await t.app.inject({ url: '/PhoneRecharges?phone_number=5511999999999', headers: a1 })).statusCode,
        ).toBe(200);
      }));
  });

  describe('API8 security misconfiguration', () => {
    // Pins: helmet headers, CORS off unless configured, bare 500s, and refused methods that never reach a handler.
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(target);
    });
    afterAll(() => t.close());

    it('when anything answers, then nosniff, no X-Powered-By and, without CORS_ORIGINS, no CORS headers', async () => {
      const origin = { origin: 'https://evil.example' };
      const responses = [
        await t.app.inject({ url: '/CompanyProducts', headers: origin }),
        await t.app.inject({ url: '/healthz', headers: origin }),
        await t.app.inject({ url: '/nowhere', headers: origin }),
        await t.app.inject({ url: '/CompanyProducts', headers: { ...origin, authorization: undefined } }),
        await t.app.inject({
          method: 'OPTIONS',
          url: '/CompanyProducts',
          headers: {
            ...origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization',
          },
        }),
      ];
      for (const response of responses) {
        expect(response.headers['x-content-type-options']).toBe('nosniff');
        expect(response.headers['x-powered-by']).toBeUndefined();
        expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).toEqual(
          [],
        );
      }
    });

    it('when CORS_ORIGINS lists an origin, then only that origin is allowed, never with credentials', () =>
      withApp(target, { CORS_ORIGINS: 'https://shop.example' }, async ({ app }) => {
        for (const origin of ['https://shop.example', 'https://evil.example', 'null']) {
          const preflight = await app.inject({
            method: 'OPTIONS',
            url: '/PhoneRecharges',
            headers: { origin, 'access-control-request-method': 'POST', authorization: undefined },
          });
          const read = await app.inject({ url: '/CompanyProducts', headers: { origin } });
          for (const response of [preflight, read]) {
            const allowed = origin === 'https://shop.example' ? origin : undefined;
            expect(response.headers['access-control-allow-origin']).toBe(allowed);
            expect(response.headers['access-control-allow-credentials']).toBeUndefined();
          }
        }
      }));

    it('when the database fails mid-query, then a bare 500 with no stack trace, file path or SQL', () =>
      withApp(target, {}, async (broken) => {
        await sql`alter table recharges rename to recharges_gone`.execute(broken.database.db);
        const responses = [
          await broken.app.inject(`/PhoneRecharges?id=${MISSING_ID}`),
          await broken.app.inject('/PhoneRecharges?phone_number=5511999999999'),
        ];
        for (const response of responses) {
          expectProblem(response, 500, 'internal_error');
          expect(Object.keys(response.json()).sort()).toEqual(PROBLEM_FIELDS);
          for (const leak of [' at ', '/src/', '.ts', 'node_modules', 'select', 'relation', 'recharges'])
            expect(response.body.toLowerCase()).not.toContain(leak);
        }
      }));

    it.each(['PATCH', 'TRACE', 'OPTIONS', 'QUERY'])(
      'when %s is sent to a contract path, then 405 and nothing echoed',
      async (method) => {
        for (const url of ['/CompanyProducts', '/PhoneRecharges', '/ApiKeys', '/AuditEvents']) {
          const response = await t.app.inject({
            method: method as 'PATCH',
            url,
            headers: { 'content-type': 'application/json' },
            payload: '{}',
          });
          expectProblem(response, 405, 'method_not_allowed');
          expect(response.body).not.toContain(TEST_ADMIN_KEY);
        }
        expect((await t.app.inject({ method: method as 'PATCH', url: '/healthz' })).statusCode).toBe(404);
      },
    );

    it('when a method Node parses but nothing routes (PROPFIND, MKCOL, ...) or a bare TRACE comes, then 4xx, never 2xx or 5xx', async () => {
      for (const method of ['PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH', 'TRACE', 'QUERY']) {
        const response = await t.app.inject({ method: method as 'GET', url: '/PhoneRecharges' });
        expect(response.statusCode, method).toBeGreaterThanOrEqual(400);
        expect(response.statusCode, method).toBeLessThan(500);
        expect(response.body).not.toContain(TEST_ADMIN_KEY);
      }
    });

    it('when the method is not HTTP at all, then the socket gets a 400, never a 5xx', async () => {
      const address = new URL(await t.app.listen({ port: 0, host: '127.0.0.1' }));
      const statusLine = await new Promise<string>((resolve, reject) => {
        let received = '';
        const socket = connect(Number(address.port), '127.0.0.1', () =>
          socket.write('FOO /CompanyProducts HTTP/1.1\r\nHost: x\r\n\r\n'),
        );
        socket.on('data', (chunk) => {
          received += chunk.toString('latin1');
        });
        socket.on('close', () => resolve(received.split('\r\n')[0] ?? ''));
        socket.on('error', reject);
      });
      expect(statusLine).toMatch(/^HTTP\/1\.1 400 /);
    });
  });

  describe('API9 improper inventory management', () => {
    // Pins: the OpenAPI document is the whole keyed surface, and it states the scope each operation needs.
    const SCOPES: Record<string, string | null> = {
      'GET /healthz': null,
      'GET /readyz': null,
      'GET /CompanyProducts': 'catalog:read',
      'POST /CompanyProducts': 'catalog:write',
      'PUT /CompanyProducts': 'catalog:write',
      'DELETE /CompanyProducts': 'catalog:write',
      'GET /PhoneRecharges': 'recharges:read',
      'POST /PhoneRecharges': 'recharges:write',
      'GET /ApiKeys': 'admin',
      'POST /ApiKeys': 'admin',
      'DELETE /ApiKeys': 'admin',
      'GET /AuditEvents': 'admin',
    };
    let t: TestApp;
    let doc: {
      paths: Record<string, Record<string, { security?: unknown }>>;
      components: { securitySchemes: unknown };
    };
    beforeAll(async () => {
      t = await createTestApp(target);
      doc = (await t.app.inject({ url: '/openapi.json', headers: { authorization: undefined } })).json();
    });
    afterAll(() => t.close());
    const operations = () =>
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.entries(item).map(([method, operation]) => ({
          name: `${method.toUpperCase()} ${path}`,
          operation,
        })),
      );

    it('when every served route is probed without a key, then each is documented, a 405 refusal, or the docs', async () => {
      const served = servedRoutes(t.app);
      expect(served.length).toBeGreaterThan(5);
      const documented = new Set(operations().map(({ name }) => name));
      for (const [path, methods] of served) {
        if (
          path === '/openapi.json' ||
          path === '/docs' ||
          path.startsWith('/docs/') ||
          path.startsWith('/docs*')
        )
          continue;
        for (const method of methods) {
          const name = `${method} ${path}`;
          if (documented.has(name) || (method === 'HEAD' && documented.has(`GET ${path}`))) continue;
          const response = await t.app.inject({
            method: method as 'GET',
            url: path,
            headers: { 'content-type': 'application/json', authorization: undefined },
            payload: method === 'QUERY' ? '{}' : undefined,
          });
          expect(response.statusCode, `${name} is served but not documented`).toBe(405);
        }
      }
      for (const name of documented) {
        const [method, path] = name.split(' ');
        expect(
          served.some(([url, methods]) => url === path && methods.includes(String(method))),
          name,
        ).toBe(true);
      }
    });

    it('when the document is read, then every operation but health declares the bearer scheme with the scope enforced', async () => {
      expect(doc.components.securitySchemes).toMatchObject({ apiKey: { type: 'http', scheme: 'bearer' } });
      const declared = Object.fromEntries(
        operations().map(({ name, operation }) => [
          name,
          operation.security === undefined ? null : operation.security,
        ]),
      );
      const expected = Object.fromEntries(
        Object.entries(SCOPES).map(([name, scope]) => [name, scope === null ? null : [{ apiKey: [scope] }]]),
      );
      expect(declared).toEqual(expected);
      for (const [name, scope] of Object.entries(SCOPES)) {
        const [method, url] = name.split(' ') as ['GET', string];
        const anonymous = await t.app.inject({ method, url, headers: { authorization: undefined } });
        expect(anonymous.statusCode, name).toBe(scope === null ? 200 : 401);
        if (scope === null) continue;
        const others = ALL_BUT_ADMIN.filter((other) => other !== scope);
        const lacking = await createKey(t.app, `lacks-${name.replace(/[^A-Za-z]/g, '-')}`, others);
        const refused = await t.app.inject({ method, url, headers: bearer(lacking.key) });
        expect(refused.statusCode, name).toBe(403);
      }
    });
  });
});
