import type { InjectOptions } from 'light-my-request';
import { describe, expect, it } from 'vitest';
import { claro, postJson, rechargeBody } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

const PHONE = '5511999999999';
const REPEATED = 'the body gives a key twice in one object; send each key once';

describe.each(databaseTargets)('duplicate JSON keys on %s', (target) => {
  const t = useTestApp(target, { empty: ['recharges'], clearCatalog: true, seed: [claro] });

  const recharges = async () =>
    (await t().app.inject({ url: `/PhoneRecharges?phone_number=${PHONE}` })).json();

  it('when a recharge gives product_id twice, then 400 naming it, and nothing is stored', async () => {
    const payload = `{"company_id":"claro_11","product_id":"claro_20","phone_number":"${PHONE}","value":10,"product_id":"claro_10"}`;
    const response = await postJson(t().app, '/PhoneRecharges', payload);
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: REPEATED,
      errors: [{ path: '/product_id', message: 'is given more than once' }],
    });
    expect(await recharges()).toEqual([]);
  });

  it('when the repeat is spelt with escapes ("\\u0070roduct_id"), then it is the same key and 400', async () => {
    const payload = `{"company_id":"claro_11","product_id":"claro_20","phone_number":"${PHONE}","value":10,"\\u0070roduct_id":"claro_10"}`;
    const response = await postJson(t().app, '/PhoneRecharges', payload);
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: REPEATED,
      errors: [{ path: '/product_id', message: 'is given more than once' }],
    });
    expect(await recharges()).toEqual([]);
  });

  it('when a product inside the catalog array gives id twice, then 400 with its JSON pointer, and nothing is stored', async () => {
    const payload =
      '{"company_id":"vivo_11","products":[{"id":"vivo_10","value":10},{"id":"vivo_20","value":20,"id":"vivo_30"}]}';
    const response = await postJson(t().app, '/CompanyProducts', payload);
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: REPEATED,
      errors: [{ path: '/products/1/id', message: 'is given more than once' }],
    });
    expect((await t().app.inject({ url: '/CompanyProducts?company_id=vivo_11' })).statusCode).toBe(404);
  });

  it('when each object gives each key once, the same keys in sibling objects, then the body is accepted', async () => {
    const catalog = await postJson(
      t().app,
      '/CompanyProducts',
      '{"company_id":"vivo_11","products":[{"id":"vivo_10","value":10},{"value":20,"id":"vivo_20"}]}',
    );
    expect(catalog.statusCode).toBe(201);
    const recharge = await postJson(
      t().app,
      '/PhoneRecharges',
      `{"company_id":"claro_11","product_id":"claro_10","phone_number":"${PHONE}","value":10}`,
    );
    expect(recharge.statusCode).toBe(201);
    expect(await recharges()).toHaveLength(1);
  });
});

describe('methods on the operations and documentation paths', () => {
  const t = useTestApp('pglite');

  const paths = [
    '/healthz',
    '/readyz',
    '/metrics',
    '/openapi.json',
    '/docs',
    '/docs/json',
    '/docs/static/index.css',
  ];

  it.each(paths.flatMap((url) => ['POST', 'PUT', 'DELETE', 'PATCH'].map((method) => [method, url] as const)))(
    'when %s %s, then 405 method_not_allowed with Allow: GET, HEAD',
    async (method, url) => {
      const response = await t().app.inject({ method, url });
      expectProblem(response, 405, {
        code: 'method_not_allowed',
        detail: `${method} is not allowed here; allowed: GET, HEAD`,
      });
      expect(response.headers.allow).toBe('GET, HEAD');
    },
  );

  it.each(paths)('when GET or HEAD %s, then 200', async (url) => {
    expect((await t().app.inject({ method: 'GET', url })).statusCode).toBe(200);
    expect((await t().app.inject({ method: 'HEAD', url })).statusCode).toBe(200);
  });

  it('when a path under /docs does not exist, then GET is still 404 not_found', async () => {
    const response = await t().app.inject({ method: 'GET', url: '/docs/static/nothing.js' });
    expect(response.statusCode).toBe(404);
  });
});

describe.each(databaseTargets)('Cache-Control on %s', (target) => {
  const t = useTestApp(target, { empty: ['recharges', 'api_keys'], clearCatalog: true, seed: [claro] });
  const NO_STORE = 'no-store';
  const REVALIDATE = 'private, no-cache';

  const cacheControlOf = async (request: InjectOptions) =>
    (await t().app.inject(request)).headers['cache-control'];

  it('when a response carries a key, a recharge or an audit event, then no-store', async () => {
    const key = await postJson(t().app, '/ApiKeys', { name: 'shop', scopes: ['recharges:read'] });
    expect(key.statusCode).toBe(201);
    expect(key.headers['cache-control']).toBe(NO_STORE);
    const recharge = await postJson(t().app, '/PhoneRecharges', rechargeBody);
    expect(recharge.statusCode).toBe(201);
    expect(recharge.headers['cache-control']).toBe(NO_STORE);
    for (const url of [
      '/ApiKeys',
      `/PhoneRecharges?id=${recharge.json().id}`,
      `/PhoneRecharges?phone_number=${PHONE}`,
      '/AuditEvents',
    ]) {
      const response = await t().app.inject({ url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['cache-control'], url).toBe(NO_STORE);
    }
    const revoked = await t().app.inject({ method: 'DELETE', url: `/ApiKeys?id=${key.json().id}` });
    expect(revoked.statusCode).toBe(204);
    expect(revoked.headers['cache-control']).toBe(NO_STORE);
  });

  it('when a catalog is read, then private, no-cache beside its ETag, on 200, HEAD and 304 alike', async () => {
    for (const url of ['/CompanyProducts', '/CompanyProducts?company_id=claro_11']) {
      const read = await t().app.inject({ url });
      expect(read.statusCode).toBe(200);
      expect(read.headers.etag).toEqual(expect.any(String));
      expect(read.headers['cache-control'], url).toBe(REVALIDATE);
      expect(await cacheControlOf({ method: 'HEAD', url }), url).toBe(REVALIDATE);
      const notModified = await t().app.inject({
        url,
        headers: { 'if-none-match': String(read.headers.etag) },
      });
      expect(notModified.statusCode).toBe(304);
      expect(notModified.headers['cache-control'], url).toBe(REVALIDATE);
    }
  });

  it('when a catalog read is refused, then the problem says no-store', async () => {
    for (const request of [
      { url: '/CompanyProducts', headers: { authorization: undefined } },
      { url: '/CompanyProducts?company_id=nobody_11' },
      { url: '/CompanyProducts?company_id=bad%20id' },
    ]) {
      const response = await t().app.inject(request);
      expect(response.statusCode, request.url).toBeGreaterThanOrEqual(400);
      expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(response.headers['cache-control'], request.url).toBe(NO_STORE);
    }
  });

  it('when a catalog is written, or anything else answers, then no-store', async () => {
    const written = await postJson(t().app, '/CompanyProducts', { ...claro, company_id: 'vivo_11' });
    expect(written.statusCode).toBe(201);
    expect(written.headers['cache-control']).toBe(NO_STORE);
    for (const request of [
      { method: 'DELETE', url: '/CompanyProducts?company_id=vivo_11' },
      { url: '/healthz' },
      { url: '/readyz' },
      { url: '/metrics' },
      { url: '/openapi.json' },
      { url: '/nowhere' },
      { method: 'PATCH', url: '/PhoneRecharges' },
      {
        method: 'POST',
        url: '/PhoneRecharges',
        headers: { 'content-type': 'application/json' },
        payload: '{',
      },
    ] as const) {
      expect(await cacheControlOf(request), `${request.url}`).toBe(NO_STORE);
    }
  });

  it('when the /docs page or its assets are read, then they are not no-store: they hold nothing private', async () => {
    for (const url of ['/docs', '/docs/static/index.css']) {
      const response = await t().app.inject({ url, headers: { authorization: undefined } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control'] ?? '', url).not.toContain(NO_STORE);
    }
  });
});
