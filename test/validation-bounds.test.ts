import { describe, expect, it } from 'vitest';
import { postJson, rechargeBody } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

const unknownKeys = (count: number) =>
  `{${Array.from({ length: count }, (_, index) => `"k${index}":1`).join(',')}}`;

describe.each(databaseTargets)('how much a 400 lists, on %s', (target) => {
  const t = useTestApp(target);

  it('when a body has 20,000 unknown keys, then a small 400 lists its first problem and says why no more', async () => {
    const body = unknownKeys(20_000);
    expect(body.length).toBeGreaterThan(200_000);
    const response = await postJson(t().app, '/PhoneRecharges', body);
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: [
        { path: '/company_id', message: 'is required' },
        { path: '/', message: 'has more than 5000 JSON values: only its first problem is listed' },
      ],
    });
    expect(response.body.length).toBeLessThan(8_192);
  });

  it('when a body small enough to check has more than 20 problems, then 20 are listed and the rest counted', async () => {
    const response = await postJson(t().app, '/PhoneRecharges', unknownKeys(4_000));
    expect(response.statusCode).toBe(400);
    const problem = response.json() as { detail: string; errors: unknown[] };
    // 4 required fields and 4,000 unknown ones.
    expect(problem.detail).toBe('the body is invalid; 3984 more problems are not listed');
    expect(problem.errors).toHaveLength(20);
    expect(response.body.length).toBeLessThan(8_192);
  });

  it('when a catalog has 30 products of the wrong type, then the first 20 are named and 10 counted', async () => {
    const products = Array.from({ length: 30 }, (_, index) => ({ id: `p${index}`, value: 'ten' }));
    const response = await postJson(t().app, '/CompanyProducts', { company_id: 'claro_11', products });
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: 'the body is invalid; 10 more problems are not listed',
      errors: products.slice(0, 20).map((_, index) => ({
        path: `/products/${index}/value`,
        message: 'must be number',
      })),
    });
    expect((await t().app.inject({ url: '/CompanyProducts' })).json()).toEqual([]);
  });

  it('when a recharge has a problem in every field, then every one is listed', async () => {
    const response = await postJson(t().app, '/PhoneRecharges', {
      company_id: '',
      product_id: 'no spaces',
      phone_number: '123',
      value: 10.005,
      note: 'unknown',
    });
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: [
        { path: '/note', message: 'is not allowed' },
        { path: '/company_id', message: 'must NOT have fewer than 1 characters' },
        { path: '/company_id', message: 'must match pattern "^[A-Za-z0-9_-]+$"' },
        { path: '/product_id', message: 'must match pattern "^[A-Za-z0-9_-]+$"' },
        {
          path: '/phone_number',
          message: 'must be a Brazilian mobile number: 55, a DDD and nine digits starting with 9',
        },
        {
          path: '/value',
          message: 'must be an amount from 0.01 to 10000 with at most two decimal places',
        },
      ],
    });
  });

  it('when a body nests 50,000 arrays deep, then 400, not a stack overflow', async () => {
    const response = await postJson(t().app, '/PhoneRecharges', `${'['.repeat(50_000)}${']'.repeat(50_000)}`);
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: [
        { path: '/', message: 'must be object' },
        { path: '/', message: 'has more than 5000 JSON values: only its first problem is listed' },
      ],
    });
    expect((await postJson(t().app, '/PhoneRecharges', rechargeBody)).statusCode).toBe(422);
  });
});
