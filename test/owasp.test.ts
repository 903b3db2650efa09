import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { InjectOptions, Response } from 'light-my-request';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  claro,
  createKey,
  createTestApp,
  postJson,
  rechargeBody,
  TEST_ADMIN_KEY,
  type TestApp,
} from './helpers/app.js';
import { type DatabaseTarget, databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';

type Key = { id: string; key: string };
type Env = Record<string, string>;
const ALL_BUT_ADMIN = [
  'catalog:read',
  'catalog:write',
  'recharges:read',
  'recharges:write',
  'accounts:read',
  'webhooks:read',
  'webhooks:write',
];
const SHOP = ['recharges:read', 'recharges:write'];
const MISSING_ID = '01900000-0000-7000-8000-000000000000';
const PHONE = '5511999999999';
/** What each shop's account is funded with: far more than its recharges here cost. */
const FUNDS = 1000;
const RECHARGE_FIELDS = [
  'company_id',
  'created_at',
  'failure_code',
  'id',
  'phone_number',
  'product_id',
  'status',
  'updated_at',
  'value',
];
const PROBLEM_FIELDS = ['code', 'detail', 'request_id', 'status', 'title', 'type'];
const bearer = (key: Key) => ({ authorization: `Bearer ${key.key}` });
const keysOf = (value: object) => Object.keys(value).sort();
const anonymous = { authorization: undefined };
const sansRequestId = (response: Response) => ({ ...response.json(), request_id: 'x' });
const json = (method: string, url: string, body: unknown, headers = {}): InjectOptions => ({
  method: method as 'POST',
  url,
  headers: { 'content-type': 'application/json', ...headers },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});

/** Client A (every scope but admin) and client B (recharges), funded, on a catalog to recharge from. */
async function openShops(app: FastifyInstance) {
  await postJson(app, '/CompanyProducts', claro);
  return {
    a: await createKey(app, { name: 'shop-a', scopes: ALL_BUT_ADMIN, client: 'client-a', deposit: FUNDS }),
    b: await createKey(app, { name: 'shop-b', scopes: SHOP, client: 'client-b', deposit: FUNDS }),
  };
}

async function withApp(target: DatabaseTarget, env: Env, run: (t: TestApp) => Promise<void>) {
  const t = await createTestApp(target, env);
  await run(t).finally(() => t.close());
}

function expectProblem(response: Response, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(response.json()).toMatchObject({ status, code, request_id: response.headers['x-request-id'] });
}

/** Every route Fastify serves, with its methods, read from its route tree (nested paths joined). */
function servedRoutes(app: FastifyInstance): [path: string, methods: string[]][] {
  const routes: [string, string[]][] = [];
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    parents.length = (match[1] ?? '').length / 4;
    parents.push(match[2] ?? '');
    if (match[3]) routes.push([parents.join(''), match[3].split(', ')]);
  }
  return routes;
}

// Each OWASP item gets an app and database of its own (useTestApp), so limits and rows never mix.
describe.each(databaseTargets)('OWASP API Security Top 10 (2023) on %s', (target) => {
  describe('API1 broken object level authorization', () => {
    // Pins: every read of a recharge (by id, listing, cursor) is filtered by the caller's client.
    const t = useTestApp(target);
    let a: Key;
    let b: Key;
    beforeAll(async () => {
      ({ a, b } = await openShops(t().app));
    });
    const get = (key: Key, url: string) => t().app.inject({ url, headers: bearer(key) });
    const recharge = async (key: Key, phone_number: string) =>
      (await postJson(t().app, '/PhoneRecharges', { ...rechargeBody, phone_number }, bearer(key))).json();

    it("when B asks for A's recharge by id, then the very 404 of a missing id; B's list omits it", async () => {
      const ofA = await recharge(a, '5531977776666');
      expect((await t().app.inject(`/PhoneRecharges?id=${ofA.id}`)).json()).toEqual(ofA);
      const hidden = await get(b, `/PhoneRecharges?id=${ofA.id}`);
      expectProblem(hidden, 404, 'not_found');
      expect(sansRequestId(hidden)).toEqual(sansRequestId(await get(b, `/PhoneRecharges?id=${MISSING_ID}`)));
      expect((await get(b, '/PhoneRecharges?phone_number=%2B55%2031%2097777-6666')).json()).toEqual([]);
      expect((await get(a, '/PhoneRecharges?phone_number=5531977776666')).json()).toEqual([ofA]);
    });

    it("when B pages with a cursor taken from A's listing, then B gets only B's rows", async () => {
      const phone = '5521988887777';
      const [a1, , b1] = [await recharge(a, phone), await recharge(a, phone), await recharge(b, phone)];
      await recharge(a, phone);
      const pageOfA = await get(a, `/PhoneRecharges?phone_number=${phone}&limit=1`);
      expect(pageOfA.json()).toEqual([a1]);
      const next = /^<([^>]+)>; rel="next"$/.exec(String(pageOfA.headers.link))?.[1];
      expect(next).toMatch(/cursor=/);
      const pageOfB = await get(b, String(next));
      expect(pageOfB.json()).toEqual([b1]);
      expect(pageOfB.headers.link).toBeUndefined();
    });
  });

  describe('API2 broken authentication', () => {
    // Pins: one indistinguishable 401, keys only in the header, only digests at rest, 429s for guessers.
    const t = useTestApp(target, { env: { AUTH_FAILURES_PER_MINUTE: '5' } });
    const from = (remoteAddress: string, authorization?: string, url = '/CompanyProducts') =>
      t().app.inject({ url, remoteAddress, headers: { authorization } });

    it('when the key is missing, wrong, revoked or in the URL, then the same 401 and WWW-Authenticate', async () => {
      const revoked = await createKey(t().app, { name: 'to-revoke', scopes: ['catalog:read'] });
      expect((await from('198.51.100.1', `Bearer ${revoked.key}`)).statusCode).toBe(200);
      const revoke = await t().app.inject({ method: 'DELETE', url: `/ApiKeys?id=${revoked.id}` });
      expect(revoke.statusCode).toBe(204);
      const wrongSecret = `Bearer rk_${revoked.id}_${'A'.repeat(43)}`;
      const tokens = [undefined, 'Bearer not-a-key', wrongSecret, `Bearer ${revoked.key}`];
      const refusals = [];
      for (const token of tokens) refusals.push(await from('198.51.100.1', token));
      for (const refused of refusals) {
        expectProblem(refused, 401, 'unauthenticated');
        expect(refused.headers['www-authenticate']).toBe('Bearer realm="recharge-api"');
        expect(sansRequestId(refused)).toEqual(sansRequestId(refusals[0] as Response));
      }
      const valid = await createKey(t().app, { name: 'in-url', scopes: ['catalog:read'] });
      const inUrl = await t().app.inject({
        url: `/CompanyProducts?api_key=${valid.key}`,
        headers: bearer(valid),
      });
      expectProblem(inUrl, 401, 'unauthenticated');
      expect(inUrl.body).not.toContain(valid.key);
    });

    it('when keys are made, then api_keys holds their SHA-256 and nothing that reveals them', async () => {
      const made = await createKey(t().app, { name: 'stored', scopes: ['catalog:read'] });
      const rows = await t().database.db.selectFrom('api_keys').selectAll().execute();
      const digest = createHash('sha256').update(made.key).digest();
      expect(Buffer.from(rows.find(({ id }) => id === made.id)?.key_hash ?? []).equals(digest)).toBe(true);
      const text = (value: unknown) =>
        value instanceof Uint8Array ? Buffer.from(value).toString('base64') : JSON.stringify(value);
      const dump = rows.flatMap((row) => Object.values(row).map(text)).join('\n');
      for (const secret of [made.key.slice(20), TEST_ADMIN_KEY]) expect(dump).not.toContain(secret);
      const audit = JSON.stringify(await t().database.db.selectFrom('audit_events').selectAll().execute());
      for (const secret of [made.key.slice(20), digest.toString('hex'), digest.toString('base64')])
        expect(audit).not.toContain(secret);
    });

    it('when a guesser passes AUTH_FAILURES_PER_MINUTE, then its guesses get 429 and valid keys from its address still pass', async () => {
      const valid = await createKey(t().app, { name: 'victim', scopes: ['catalog:read'] });
      const guesser = '203.0.113.7';
      for (const guess of ['A', 'B', 'C', 'D', 'E'])
        expect((await from(guesser, `Bearer rk_${valid.id}_${guess.repeat(43)}`)).statusCode).toBe(401);
      for (const token of [`Bearer rk_${valid.id}_${'F'.repeat(43)}`, 'Bearer wrong']) {
        const refused = await from(guesser, token);
        expectProblem(refused, 429, 'rate_limited');
        expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      // Without TRUST_PROXY a forged X-Forwarded-For is no way out.
      const headers = { authorization: 'Bearer wrong', 'x-forwarded-for': '192.0.2.55' };
      const forged = await t().app.inject({ url: '/CompanyProducts', remoteAddress: guesser, headers });
      expect(forged.statusCode).toBe(429);
      // Nor is another address, for the same key id.
      const elsewhere = await from('198.51.100.98', `Bearer rk_${valid.id}_${'G'.repeat(43)}`);
      expectProblem(elsewhere, 429, 'rate_limited');
      // A valid key is never refused for others' failures, from the guesser's address or anywhere else.
      for (const address of [guesser, '198.51.100.99']) {
        for (const token of [`Bearer ${valid.key}`, `Bearer ${TEST_ADMIN_KEY}`])
          expect((await from(address, token)).statusCode).toBe(200);
      }
      expect((await from(guesser, undefined, '/healthz')).statusCode).toBe(200);
    });
  });

  describe('API3 broken object property level authorization', () => {
    // Pins: closed request schemas (no mass assignment) and closed response schemas (nothing unlisted sent).
    const t = useTestApp(target);
    let a: Key;
    beforeAll(async () => {
      ({ a } = await openShops(t().app));
    });
    const state = async () => ({
      catalogs: (await t().app.inject('/CompanyProducts')).json(),
      recharges: await t().database.db.selectFrom('recharges').selectAll().execute(),
      keys: (await t().app.inject('/ApiKeys')).json(),
    });
    const newKey = { name: 'x', scopes: ['catalog:read'] };

    it.each([
      ['POST /CompanyProducts', { company_id: 'vivo_11', products: [], owner: 'me' }, '/owner'],
      [
        'POST /CompanyProducts',
        { company_id: 'vivo', products: [{ id: 'v', value: 1, c: 0 }] },
        '/products/0/c',
      ],
      ['PUT /CompanyProducts?company_id=claro_11', { ...claro, created_at: 'x' }, '/created_at'],
      ['POST /PhoneRecharges', { ...rechargeBody, client: 'client-b' }, '/client'],
      ['POST /PhoneRecharges', { ...rechargeBody, id: MISSING_ID }, '/id'],
      ['POST /PhoneRecharges', { ...rechargeBody, created_at: '2019-02-01T13:00:00.000Z' }, '/created_at'],
      ['POST /ApiKeys', { ...newKey, key: `rk_${'0'.repeat(16)}_${'A'.repeat(43)}` }, '/key'],
      ['POST /ApiKeys', { ...newKey, key_hash: '00' }, '/key_hash'],
      ['POST /ApiKeys', { ...newKey, id: '0123456789abcdef' }, '/id'],
    ])('when %s carries an extra field, then 400 names %o and nothing changes', async (route, body, path) => {
      const [method, url] = route.split(' ') as [string, string];
      const before = await state();
      const refused = await t().app.inject(json(method, url, body, url === '/ApiKeys' ? {} : bearer(a)));
      expectProblem(refused, 400, 'invalid_request');
      expect(refused.json().errors).toEqual([{ path, message: 'is not allowed' }]);
      expect(await state()).toEqual(before);
    });

    it('when recharges, catalogs and keys are returned, then with exactly the documented properties', async () => {
      const made = (await postJson(t().app, '/PhoneRecharges', rechargeBody, bearer(a))).json();
      const byId = await t().app.inject({ url: `/PhoneRecharges?id=${made.id}`, headers: bearer(a) });
      const listed = await t().app.inject(`/PhoneRecharges?phone_number=${PHONE}`);
      for (const shown of [made, byId.json(), ...listed.json()])
        expect(keysOf(shown)).toEqual(RECHARGE_FIELDS);
      const shownOnce = await postJson(t().app, '/ApiKeys', { name: 'shown-once', scopes: ['catalog:read'] });
      expect(shownOnce.statusCode).toBe(201);
      const created = shownOnce.json();
      expect(keysOf(created)).toEqual(['client', 'created_at', 'id', 'key', 'name', 'scopes']);
      const keys = await t().app.inject('/ApiKeys');
      for (const key of keys.json())
        expect(keysOf(key)).toEqual(['client', 'created_at', 'id', 'name', 'scopes']);
      expect(keys.body).not.toContain(created.key.slice(20));
      for (const catalog of (await t().app.inject('/CompanyProducts')).json()) {
        expect(keysOf(catalog)).toEqual(['company_id', 'products']);
        for (const product of catalog.products) expect(keysOf(product)).toEqual(['id', 'value']);
      }
    });
  });

  describe('API4 unrestricted resource consumption', () => {
    // Pins: bounded bodies, page sizes, product lists and request rates.
    const t = useTestApp(target);
    const products = (count: number) => Array.from({ length: count }, (_, i) => ({ id: `p${i}`, value: 1 }));

    it('when a body is over BODY_LIMIT (256 KiB by default), then 413 and nothing is stored', async () => {
      const pad = 'x'.repeat(300_000);
      for (const [url, body] of [
        ['/CompanyProducts', { company_id: 'big', products: [], pad }],
        ['/PhoneRecharges', { ...rechargeBody, pad }],
        ['/ApiKeys', { name: 'big', scopes: ['admin'], pad }],
      ] as const)
        expectProblem(await postJson(t().app, url, body), 413, 'payload_too_large');
      expect((await t().app.inject('/CompanyProducts')).json()).toEqual([]);
      expect((await t().app.inject('/ApiKeys')).json()).toEqual([]);
    });

    it('when a page over 500 or a cursor over 256 characters is asked for, then 400', async () => {
      const list = `/PhoneRecharges?phone_number=${PHONE}`;
      expect((await t().app.inject(`${list}&limit=500`)).statusCode).toBe(200);
      for (const url of [`${list}&limit=501`, `${list}&cursor=${'A'.repeat(257)}`, '/AuditEvents?limit=501'])
        expectProblem(await t().app.inject(url), 400, 'invalid_request');
    });

    it('when a catalog has more than 1000 products, then 400; 1000 are fine', async () => {
      const refused = await postJson(t().app, '/CompanyProducts', {
        company_id: 'x',
        products: products(1001),
      });
      expectProblem(refused, 400, 'invalid_request');
      expect(refused.json().errors).toEqual([{ path: '/products', message: expect.any(String) }]);
      const accepted = await postJson(t().app, '/CompanyProducts', {
        company_id: 'x',
        products: products(1000),
      });
      expect(accepted.statusCode).toBe(201);
    });

    it('when a key sends more than RATE_LIMIT_PER_MINUTE requests, then 429 with Retry-After', () =>
      withApp(target, { RATE_LIMIT_PER_MINUTE: '3' }, async ({ app }) => {
        const reader = bearer(await createKey(app, { name: 'reader', scopes: ['catalog:read'] }));
        for (let i = 0; i < 3; i++)
          expect((await app.inject({ url: '/CompanyProducts', headers: reader })).statusCode).toBe(200);
        const refused = await app.inject({ url: '/CompanyProducts', headers: reader });
        expectProblem(refused, 429, 'rate_limited');
        expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect((await app.inject('/CompanyProducts')).statusCode).toBe(200);
      }));
  });

  describe('API5 broken function level authorization', () => {
    // Pins: each function checks its own scope before reading the body; /ApiKeys and /AuditEvents need admin.
    const t = useTestApp(target);
    let a: Key;
    let b: Key;
    beforeAll(async () => {
      ({ a, b } = await openShops(t().app));
    });
    const expectForbidden = (response: Response, scope: string) => {
      expectProblem(response, 403, 'forbidden');
      expect(response.json().detail).toBe(`this API key lacks the ${scope} scope`);
    };

    it('when a key with every scope but admin manages keys or reads the audit, then 403, nothing changes', async () => {
      const keysBefore = (await t().app.inject('/ApiKeys')).json();
      const headers = bearer(a);
      for (const request of [
        json('POST', '/ApiKeys', { name: 'escalate', client: 'client-b', scopes: ['admin'] }, headers),
        json('POST', '/ApiKeys', '{"name":', headers),
        { url: '/ApiKeys', headers },
        { method: 'DELETE' as const, url: `/ApiKeys?id=${b.id}`, headers },
        { url: '/AuditEvents', headers },
      ])
        expectForbidden(await t().app.inject(request), 'admin');
      expect((await t().app.inject('/ApiKeys')).json()).toEqual(keysBefore);
    });

    it('when a catalog:read key writes catalogs or a recharges:read key recharges, then 403', async () => {
      const reader = bearer(await createKey(t().app, { name: 'catalog-reader', scopes: ['catalog:read'] }));
      const looker = bearer(
        await createKey(t().app, { name: 'recharge-reader', scopes: ['recharges:read'] }),
      );
      const cheap = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 0.01 }] };
      for (const request of [
        json('POST', '/CompanyProducts', { ...cheap, company_id: 'fake_11' }, reader),
        json('PUT', '/CompanyProducts?company_id=claro_11', cheap, reader),
        { method: 'DELETE' as const, url: '/CompanyProducts?company_id=claro_11', headers: reader },
      ])
        expectForbidden(await t().app.inject(request), 'catalog:write');
      const recharge = await t().app.inject(json('POST', '/PhoneRecharges', rechargeBody, looker));
      expectForbidden(recharge, 'recharges:write');
      expect((await t().app.inject('/CompanyProducts')).json()).toEqual([claro]);
      expect(await t().database.db.selectFrom('recharges').selectAll().execute()).toEqual([]);
    });
  });

  describe('API6 unrestricted access to sensitive business flows', () => {
    // Pins: all keys of a client share one recharge budget, so more keys do not buy more recharges.
    it('when a client passes RECHARGES_PER_CLIENT_PER_MINUTE over two keys, then 429; others go on', () =>
      withApp(target, { RECHARGES_PER_CLIENT_PER_MINUTE: '2' }, async ({ app, database }) => {
        const { a, b } = await openShops(app);
        const a2 = await createKey(app, { name: 'shop-a-2', scopes: SHOP, client: 'client-a' });
        expect((await postJson(app, '/PhoneRecharges', rechargeBody, bearer(a))).statusCode).toBe(201);
        expect((await postJson(app, '/PhoneRecharges', rechargeBody, bearer(a2))).statusCode).toBe(201);
        for (const key of [a, a2]) {
          const other = { ...rechargeBody, phone_number: '5521988887777' };
          const refused = await postJson(app, '/PhoneRecharges', other, bearer(key));
          expectProblem(refused, 429, 'rate_limited');
          expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        }
        expect((await postJson(app, '/PhoneRecharges', rechargeBody, bearer(b))).statusCode).toBe(201);
        const stored = await database.db.selectFrom('recharges').select('client').orderBy('client').execute();
        expect(stored).toEqual([{ client: 'client-a' }, { client: 'client-a' }, { client: 'client-b' }]);
      }));
  });

  describe('API8 security misconfiguration', () => {
    // Pins: helmet headers, CORS off unless configured, bare 500s, and refused methods never reaching a handler.
    const t = useTestApp(target);
    const preflight = (origin: string) => ({
      method: 'OPTIONS' as const,
      headers: { origin, 'access-control-request-method': 'POST', ...anonymous },
    });

    it('when anything answers, then nosniff, no X-Powered-By, and no CORS without CORS_ORIGINS', async () => {
      const origin = 'https://evil.example';
      for (const request of [
        { url: '/CompanyProducts', headers: { origin } },
        { url: '/healthz', headers: { origin } },
        { url: '/nowhere', headers: { origin } },
        { url: '/CompanyProducts', headers: { origin, ...anonymous } },
        { url: '/CompanyProducts', ...preflight(origin) },
      ]) {
        const { headers } = await t().app.inject(request);
        expect(headers['x-content-type-options']).toBe('nosniff');
        expect(headers['x-powered-by']).toBeUndefined();
        expect(Object.keys(headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
      }
    });

    it('when an unserved method comes, then 405 on contract paths, else 4xx; never 2xx, 5xx or an echo', async () => {
      for (const method of ['PATCH', 'TRACE', 'OPTIONS', 'QUERY'])
        for (const url of ['/CompanyProducts', '/PhoneRecharges', '/ApiKeys', '/AuditEvents']) {
          const response = await t().app.inject(json(method, url, {}));
          expectProblem(response, 405, 'method_not_allowed');
          expect(response.body).not.toContain(TEST_ADMIN_KEY);
        }
      // Bare TRACE and QUERY (no body type), and methods Node parses but Fastify does not route.
      for (const method of ['TRACE', 'QUERY', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH']) {
        const { statusCode } = await t().app.inject({ method: method as 'GET', url: '/PhoneRecharges' });
        expect([statusCode >= 400, statusCode < 500], method).toEqual([true, true]);
      }
    });

    it('when CORS_ORIGINS lists an origin, then only that origin is allowed, never with credentials', () =>
      withApp(target, { CORS_ORIGINS: 'https://shop.example' }, async ({ app }) => {
        for (const origin of ['https://shop.example', 'https://evil.example', 'null']) {
          const allowed = origin === 'https://shop.example' ? origin : undefined;
          for (const request of [
            { url: '/PhoneRecharges', ...preflight(origin) },
            { url: '/CompanyProducts', headers: { origin } },
          ]) {
            const { headers } = await app.inject(request);
            expect(headers['access-control-allow-origin']).toBe(allowed);
            expect(headers['access-control-allow-credentials']).toBeUndefined();
          }
        }
      }));

    it('when the database fails mid-query, then a bare 500 without stack trace, file path or SQL', () =>
      withApp(target, {}, async ({ app, database }) => {
        await sql`alter table recharges rename to recharges_gone`.execute(database.db);
        for (const url of [`/PhoneRecharges?id=${MISSING_ID}`, `/PhoneRecharges?phone_number=${PHONE}`]) {
          const response = await app.inject(url);
          expectProblem(response, 500, 'internal_error');
          expect(Object.keys(response.json()).sort()).toEqual(PROBLEM_FIELDS);
          for (const leak of [' at ', '/src/', '.ts', 'node_modules', 'select', 'relation', 'recharges'])
            expect(response.body.toLowerCase()).not.toContain(leak);
        }
      }));
  });

  describe('API9 improper inventory management', () => {
    // Pins: the OpenAPI document is the whole keyed surface and names the scope each operation enforces.
    const t = useTestApp(target);
    const SCOPE = /^(catalog|recharges|webhooks):(read|write)$|^accounts:read$|^admin$/;
    type Security = { apiKey?: string[] }[];
    const operations = async () => {
      const doc = (await t().app.inject({ url: '/openapi.json', headers: anonymous })).json();
      const paths = doc.paths as Record<string, Record<string, { security?: Security }>>;
      const entries = Object.entries(paths).flatMap(([path, item]) =>
        Object.entries(item).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op.security ?? null]),
      );
      return { doc, declared: Object.fromEntries(entries) as Record<string, Security | null> };
    };

    it('when every served route is called without a key, then it is documented, a 405 refusal, or the docs', async () => {
      const { declared } = await operations();
      const served = servedRoutes(t().app);
      expect(served.map(([path]) => path)).toEqual(expect.arrayContaining(['/CompanyProducts', '/ApiKeys']));
      for (const [path, methods] of served) {
        if (path === '/openapi.json' || path.startsWith('/docs')) continue;
        for (const method of methods) {
          if (`${method} ${path}` in declared || (method === 'HEAD' && `GET ${path}` in declared)) continue;
          const { statusCode } = await t().app.inject(json(method, path, {}, anonymous));
          expect(statusCode, `${method} ${path} is served but not documented`).toBe(405);
        }
      }
      for (const name of Object.keys(declared)) {
        const [method, path] = name.split(' ') as [string, string];
        const isServed = served.some(([url, methods]) => url === path && methods.includes(method));
        expect(isServed, name).toBe(true);
      }
    });

    it('when the document is read, then each operation but health declares bearer with the scope enforced', async () => {
      const { doc, declared } = await operations();
      const bearerScheme = { apiKey: { type: 'http', scheme: 'bearer' } };
      expect(doc.components).toMatchObject({ securitySchemes: bearerScheme });
      // `security: []` says "no key" outright; an operation that says nothing would inherit a default.
      const isOpen = (security: Security | null) => security?.length === 0;
      const open = Object.keys(declared).filter((name) => isOpen(declared[name] ?? null));
      expect(open.sort()).toEqual(['GET /healthz', 'GET /readyz']);
      for (const [name, security] of Object.entries(declared)) {
        const [method, url] = name.split(' ') as ['GET', string];
        const keyless = await t().app.inject({ method, url, headers: anonymous });
        expect(keyless.statusCode, name).toBe(isOpen(security) ? 200 : 401);
        if (isOpen(security)) continue;
        expect(security, name).toEqual([{ apiKey: [expect.stringMatching(SCOPE)] }]);
        const scope = security?.[0]?.apiKey?.[0];
        const others = ALL_BUT_ADMIN.filter((s) => s !== scope);
        const lacking = await createKey(t().app, {
          name: `lacks-${name.replace(/\W/g, '-')}`,
          scopes: others,
        });
        expect((await t().app.inject({ method, url, headers: bearer(lacking) })).statusCode, name).toBe(403);
      }
      expect(declared['POST /ApiKeys']).toEqual([{ apiKey: ['admin'] }]);
      expect(declared['GET /PhoneRecharges']).toEqual([{ apiKey: ['recharges:read'] }]);
      expect(declared['GET /Accounts']).toEqual([{ apiKey: ['accounts:read'] }]);
      expect(declared['POST /LedgerEntries']).toEqual([{ apiKey: ['admin'] }]);
      expect(declared['GET /WebhookDeliveries']).toEqual([{ apiKey: ['webhooks:read'] }]);
      expect(declared['POST /WebhookEndpoints']).toEqual([{ apiKey: ['webhooks:write'] }]);
    });
  });
});
