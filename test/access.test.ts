import type { InjectOptions } from 'light-my-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claro,
  createKey,
  createTestApp,
  postJson,
  putJson,
  rechargeBody,
  TEST_ADMIN_KEY,
  type TestApp,
  type TestKey,
} from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { expectProblem } from './helpers/problems.js';

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const WWW_AUTHENTICATE = 'Bearer realm="recharge-api"';

const UNAUTHENTICATED = {
  code: 'unauthenticated',
  detail: 'a valid API key is required: send Authorization: Bearer <key>',
};
const emptyCatalog = (companyId: string) => ({ company_id: companyId, products: [] });

// Each route with the scope it needs, and what a key with that scope alone gets from it here.
const ROUTES: [scope: string, request: InjectOptions, grantedStatus: number][] = [
  ['catalog:read', { method: 'GET', url: '/CompanyProducts' }, 200],
  ['catalog:write', { method: 'POST', url: '/CompanyProducts', payload: emptyCatalog('vivo_11') }, 201],
  [
    'catalog:write',
    { method: 'PUT', url: '/CompanyProducts?company_id=oi', payload: emptyCatalog('oi') },
    404,
  ],
  ['catalog:write', { method: 'DELETE', url: '/CompanyProducts?company_id=oi' }, 404],
  ['recharges:read', { method: 'GET', url: '/PhoneRecharges?phone_number=5511999999999' }, 200],
  [
    'recharges:write',
    { method: 'POST', url: '/PhoneRecharges', payload: { ...rechargeBody, company_id: 'oi' } },
    422,
  ],
  [
    'admin',
    { method: 'POST', url: '/ApiKeys', payload: { name: 'by-admin', scopes: ['catalog:read'] } },
    201,
  ],
  ['admin', { method: 'GET', url: '/ApiKeys' }, 200],
  ['admin', { method: 'DELETE', url: '/ApiKeys?id=0123456789abcdef' }, 404],
  ['admin', { method: 'GET', url: '/AuditEvents' }, 200],
];
const ALL_BUT_ADMIN = ['catalog:read', 'catalog:write', 'recharges:read', 'recharges:write'];

describe.each(databaseTargets)('access control on %s', (target) => {
  let t: TestApp;
  beforeAll(async () => {
    // Many refused keys from one address on purpose: keep the failed-authentication lockout out of the way.
    t = await createTestApp(target, { AUTH_FAILURES_PER_MINUTE: '1000' });
  });
  afterAll(() => t.close());
  const statusOf = async (request: InjectOptions) => (await t.app.inject(request)).statusCode;

  it('when the key is missing, not Bearer, garbage, unknown, wrongly secret or revoked, then the same 401', async () => {
    const valid = await createKey(t.app, { name: 'valid', scopes: ['catalog:read'] });
    const revoked = await createKey(t.app, { name: 'revoked', scopes: ['catalog:read'] });
    await t.app.inject({ url: '/CompanyProducts', headers: bearer(revoked.key) });
    await t.app.inject({ method: 'DELETE', url: `/ApiKeys?id=${revoked.id}` });
    const secret = valid.key.slice(20);
    const otherSecret = `${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
    const authorizations = [
      undefined,
      `Basic ${Buffer.from(`user:${valid.key}`).toString('base64')}`,
      valid.key,
      'Bearer',
      'Bearer garbage',
      `Bearer ${valid.key} extra`,
      `Bearer rk_0123456789abcdef_${secret}`,
      `Bearer rk_${valid.id}_${otherSecret}`,
      `Bearer ${revoked.key}`,
      `Bearer ${TEST_ADMIN_KEY}x`,
    ];
    for (const authorization of authorizations) {
      const response = await t.app.inject({ url: '/CompanyProducts', headers: { authorization } });
      expect(response.statusCode, String(authorization)).toBe(401);
      expect(response.headers['www-authenticate']).toBe(WWW_AUTHENTICATE);
      expectProblem(response, 401, UNAUTHENTICATED);
    }
    expect(await statusOf({ url: '/CompanyProducts', headers: bearer(valid.key) })).toBe(200);
  });

  it.each(['api_key', 'access_token', 'apikey', 'token', 'api%5Fkey', 'API-KEY'])(
    'when a key is in the query string as %s, then 401 even with a valid header',
    async (parameter) => {
      const valid = await createKey(t.app, {
        name: `in-url-${parameter.replace(/[^a-z]/gi, '-')}`,
        scopes: ['catalog:read'],
      });
      const response = await t.app.inject({
        url: `/CompanyProducts?${parameter}=${valid.key}`,
        headers: bearer(valid.key),
      });
      expectProblem(response, 401, {
        code: 'unauthenticated',
        detail:
          'API keys are refused in the URL, where logs and proxies keep them: send Authorization: Bearer <key>',
      });
      expect(response.headers['www-authenticate']).toBe(WWW_AUTHENTICATE);
    },
  );

  it.each(
    ROUTES.map(([scope, request, granted]) => [scope, `${request.method} ${request.url}`, request, granted]),
  )(
    'when a key lacks %s, then %s is 403; with that scope alone it is served',
    async (scope, _route, request, grantedStatus) => {
      const others = ALL_BUT_ADMIN.filter((s) => s !== scope);
      const lacking = await createKey(t.app, { name: `lacks-${scope.replace(':', '-')}`, scopes: others });
      const refused = await t.app.inject({ ...request, headers: bearer(lacking.key) });
      const detail = `this API key lacks the ${scope} scope`;
      expectProblem(refused, 403, { code: 'forbidden', detail });
      const only = await createKey(t.app, { name: `only-${scope.replace(':', '-')}`, scopes: [scope] });
      expect(await statusOf({ ...request, headers: bearer(only.key) })).toBe(grantedStatus);
      expect(await statusOf({ ...request, headers: { authorization: undefined } })).toBe(401);
    },
  );

  it('when a key has admin, then it reaches every route; HEAD follows the scope of GET', async () => {
    const admin = await createKey(t.app, { name: 'second-admin', scopes: ['admin'] });
    for (const [, request, grantedStatus] of ROUTES) {
      const isCreate = request.method === 'POST' && request.url === '/CompanyProducts';
      const payload = isCreate ? emptyCatalog('nextel_11') : request.payload;
      const status = await statusOf({ ...request, payload, headers: bearer(admin.key) });
      expect(status, `${request.method} ${request.url}`).toBe(grantedStatus);
    }
    const reader = bearer((await createKey(t.app, { name: 'catalog-only', scopes: ['catalog:read'] })).key);
    const noKey = { authorization: undefined };
    expect(await statusOf({ method: 'HEAD', url: '/CompanyProducts', headers: noKey })).toBe(401);
    expect(await statusOf({ method: 'HEAD', url: '/CompanyProducts', headers: reader })).toBe(200);
    const recharges = '/PhoneRecharges?phone_number=5511999999999';
    expect(await statusOf({ method: 'HEAD', url: recharges, headers: reader })).toBe(403);
  });

  it.each(['/healthz', '/readyz', '/openapi.json', '/docs'])(
    'when %s is called without a key, then it is served',
    async (url) => {
      const response = await t.app.inject({ url, headers: { authorization: undefined } });
      expect(response.statusCode).toBeLessThan(400);
    },
  );

  describe('checks run in the order docs/api.md gives', () => {
    it('when the route is unknown, then 404 even without a key', async () => {
      const response = await t.app.inject({ url: '/Nowhere', headers: { authorization: undefined } });
      expectProblem(response, 404, { code: 'not_found', detail: 'no route for GET /Nowhere' });
    });

    it.each([
      ['PATCH', '/CompanyProducts', 'GET, HEAD, POST, PUT, DELETE'],
      ['PUT', '/PhoneRecharges', 'GET, HEAD, POST'],
      ['PUT', '/ApiKeys', 'GET, HEAD, POST, DELETE'],
      ['POST', '/AuditEvents', 'GET, HEAD'],
    ])('when the method is %s on %s, then 405 even without a key', async (method, url, allow) => {
      const response = await t.app.inject({
        method: method as 'PATCH',
        url,
        headers: { authorization: undefined },
      });
      expect(response.statusCode).toBe(405);
      expect(response.headers.allow).toBe(allow);
      expect(response.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
    });

    it('when there is no key and the body is bad (malformed, not JSON, too large), then 401, not 400, 413 or 415', async () => {
      const bodies: InjectOptions[] = [
        {
          headers: { 'content-type': 'application/json', authorization: undefined },
          payload: '{"company_id":',
        },
        { headers: { 'content-type': 'text/plain', authorization: undefined }, payload: 'claro' },
        {
          headers: { 'content-type': 'application/json', authorization: undefined },
          payload: `"${'x'.repeat(300_000)}"`,
        },
      ];
      for (const body of bodies) {
        const response = await t.app.inject({ method: 'POST', url: '/CompanyProducts', ...body });
        expectProblem(response, 401, UNAUTHENTICATED);
      }
    });

    it('when the key lacks the scope and the body is bad, then 403; with the scope, then 400 and 415', async () => {
      const reader = await createKey(t.app, { name: 'order-reader', scopes: ['catalog:read'] });
      const writer = await createKey(t.app, { name: 'order-writer', scopes: ['catalog:write'] });
      const forbidden = await postJson(t.app, '/CompanyProducts', '{"company_id":', bearer(reader.key));
      expect(forbidden.json()).toMatchObject({ status: 403, code: 'forbidden' });
      const malformed = await postJson(t.app, '/CompanyProducts', '{"company_id":', bearer(writer.key));
      expect(malformed.json()).toMatchObject({ status: 400, code: 'invalid_request' });
      const invalid = await putJson(
        t.app,
        '/CompanyProducts?company_id=x',
        { company_id: 'x', products: 1 },
        bearer(writer.key),
      );
      expect(invalid.json()).toMatchObject({
        status: 400,
        code: 'invalid_request',
        errors: [{ path: '/products' }],
      });
      const textual = await t.app.inject({
        method: 'POST',
        url: '/CompanyProducts',
        headers: { 'content-type': 'text/plain', ...bearer(writer.key) },
        payload: 'x',
      });
      expect(textual.json()).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    });
  });

  it('when requests carry valid and invalid keys, then no log line and no error body shows a key or the Authorization value', async () => {
    const valid = await createKey(t.app, { name: 'logged', scopes: ['catalog:read'] });
    const wrong = `rk_${valid.id}_${'A'.repeat(43)}`;
    const responses = [
      await t.app.inject({ url: '/CompanyProducts', headers: bearer(valid.key) }),
      await t.app.inject({ url: '/PhoneRecharges?phone_number=5511999999999', headers: bearer(valid.key) }),
      await t.app.inject({ url: '/CompanyProducts', headers: bearer(wrong) }),
      await t.app.inject({ url: '/CompanyProducts', headers: { authorization: `Basic ${valid.key}` } }),
      await postJson(t.app, '/CompanyProducts', '{bad', bearer(valid.key)),
    ];
    const logs = JSON.stringify(t.logs());
    for (const secret of [valid.key, valid.key.slice(20), wrong, TEST_ADMIN_KEY, 'Bearer ', 'Basic ']) {
      expect(logs).not.toContain(secret);
    }
    for (const secret of [valid.key, valid.key.slice(20), wrong.slice(20), TEST_ADMIN_KEY]) {
      for (const response of responses) expect(response.body).not.toContain(secret);
    }
  });

  it('when a key is sent in the query string, then the logged URL does not show it', async () => {
    const valid = await createKey(t.app, { name: 'url-logged', scopes: ['catalog:read'] });
    await t.app.inject({ url: `/CompanyProducts?api_key=${valid.key}`, headers: bearer(valid.key) });
    const leaking = t.logs().filter((line) => JSON.stringify(line).includes(valid.key.slice(20)));
    expect(leaking).toEqual([]);
  });
});

describe.each(databaseTargets)('tenancy on %s (OWASP API1)', (target) => {
  let t: TestApp;
  let a1: TestKey;
  let a2: TestKey;
  let b: TestKey;
  beforeAll(async () => {
    t = await createTestApp(target);
    await postJson(t.app, '/CompanyProducts', claro);
    const scopes = ['recharges:read', 'recharges:write'];
    // Both clients are funded: a recharge of an empty account is refused.
    a1 = await createKey(t.app, { name: 'a-till-1', scopes, client: 'client-a', deposit: 100 });
    a2 = await createKey(t.app, { name: 'a-till-2', scopes, client: 'client-a' });
    b = await createKey(t.app, { name: 'b-till', scopes, client: 'client-b', deposit: 100 });
  });
  afterAll(() => t.close());

  it('when client A makes a recharge, then B cannot see it, A’s other key can, admin sees both', async () => {
    const ofA = (await postJson(t.app, '/PhoneRecharges', rechargeBody, bearer(a1.key))).json();
    const ofB = (await postJson(t.app, '/PhoneRecharges', rechargeBody, bearer(b.key))).json();
    const list = (key?: string) =>
      t.app.inject({
        url: '/PhoneRecharges?phone_number=5511999999999',
        ...(key ? { headers: bearer(key) } : {}),
      });
    const byId = (id: string, key: string) =>
      t.app.inject({ url: `/PhoneRecharges?id=${id}`, headers: bearer(key) });

    const hidden = await byId(ofA.id, b.key);
    const missing = await byId('01900000-0000-7000-8000-000000000000', b.key);
    expect(hidden.statusCode).toBe(404);
    expect({ ...hidden.json(), request_id: 'x' }).toEqual({ ...missing.json(), request_id: 'x' });
    expect((await list(b.key)).json()).toEqual([ofB]);

    expect((await byId(ofA.id, a2.key)).json()).toEqual(ofA);
    expect((await byId(ofB.id, a2.key)).statusCode).toBe(404);
    expect((await list(a2.key)).json()).toEqual([ofA]);
    expect((await list()).json()).toEqual([ofA, ofB]);

    const stored = await t.database.db
      .selectFrom('recharges')
      .select(['id', 'client'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    expect(stored).toEqual([
      { id: ofA.id, client: 'client-a' },
      { id: ofB.id, client: 'client-b' },
    ]);
  });
});
