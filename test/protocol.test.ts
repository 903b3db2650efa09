import { describe, expect, it } from 'vitest';
import { claro, postJson } from './helpers/app.js';
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
