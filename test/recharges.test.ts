import { describe, expect, it } from 'vitest';
import { claro, postJson, putJson, rechargeBody } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MILLIS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const PHONE = '5511999999999';
const OTHER_PHONE = '5521988887777';

type Recharge = typeof rechargeBody & { id: string; created_at: string };

/** A recharge body whose value is the given JSON literal, so `10.0` and `10` are really sent as written. */
function withValueLiteral(literal: string, productId = 'claro_10', companyId = 'claro_11') {
  return `{"company_id":"${companyId}","product_id":"${productId}","phone_number":"${PHONE}","value":${literal}}`;
}

const BODY_INVALID = 'the body is invalid';
const NOT_MOBILE = 'must be a Brazilian mobile number: 55, a DDD and nine digits starting with 9';
const MONEY = 'must be an amount from 0.01 to 10000 with at most two decimal places';

describe.each(databaseTargets)('recharges on %s', (target) => {
  const t = useTestApp(target, { empty: ['recharges'], clearCatalog: true, seed: [claro] });

  const get = (url: string) => t().app.inject({ method: 'GET', url });
  const recharge = (body: unknown = rechargeBody) => postJson(t().app, '/PhoneRecharges', body);
  const listOf = (phone: string) => get(`/PhoneRecharges?phone_number=${encodeURIComponent(phone)}`);
  async function makeRecharge(overrides: Partial<typeof rechargeBody> = {}): Promise<Recharge> {
    const response = await recharge({ ...rechargeBody, ...overrides });
    expect(response.statusCode).toBe(201);
    return response.json();
  }

  it('makes a recharge: 201, Location and exactly the recharge', async () => {
    const response = await recharge(withValueLiteral('10.00'));
    expect(response.statusCode).toBe(201);
    const created = response.json();
    expect(created).toEqual({
      id: expect.stringMatching(UUID_V7),
      created_at: expect.stringMatching(ISO_MILLIS_UTC),
      company_id: 'claro_11',
      product_id: 'claro_10',
      phone_number: PHONE,
      value: 10,
      status: 'pending',
      updated_at: created.created_at,
      failure_code: null,
    });
    expect(response.headers.location).toBe(`/PhoneRecharges?id=${created.id}`);
    expect(Math.abs(Date.parse(created.created_at) - Date.now())).toBeLessThan(5000);
  });

  it('finds one recharge by id, and a number’s recharges oldest first', async () => {
    const first = await makeRecharge();
    const other = await makeRecharge({ phone_number: OTHER_PHONE });
    const second = await makeRecharge({ product_id: 'claro_20', value: 20 });
    const third = await makeRecharge();

    const one = await get(`/PhoneRecharges?id=${first.id}`);
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual(first);

    const list = await listOf(PHONE);
    expect(list.statusCode).toBe(200);
    expect(list.headers.link).toBeUndefined();
    expect(list.json()).toEqual([first, second, third]);
    expect((await listOf(OTHER_PHONE)).json()).toEqual([other]);
    expect((await listOf('5511988888888')).json()).toEqual([]);
  });

  it('when the number has a + and separators, then it is stored as digits and GET normalises alike', async () => {
    const typed = await makeRecharge({ phone_number: '+55 (11) 99999-9999' });
    const dotted = await makeRecharge({ phone_number: '55.11.99999.9999' });
    expect(typed.phone_number).toBe(PHONE);
    expect(dotted.phone_number).toBe(PHONE);
    const list = await get('/PhoneRecharges?phone_number=%2B55%20(11)%2099999-9999');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual([typed, dotted]);
  });

  it.each([
    ['a landline', '551133334444'],
    ['a DDD that does not exist', '5520999999999'],
    ['a mobile without the leading 9', '5511899999999'],
    ['another country', '14155550100'],
    ['letters', '55119999a9999'],
    ['an empty string', ''],
  ])('when the number is %s, then POST and GET answer 400 on /phone_number', async (_, phone) => {
    const post = await recharge({ ...rechargeBody, phone_number: phone });
    expectProblem(post, 400, {
      code: 'invalid_request',
      detail: BODY_INVALID,
      errors: [{ path: '/phone_number', message: NOT_MOBILE }],
    });
    expectProblem(await listOf(phone), 400, {
      code: 'invalid_request',
      detail: 'the query string is invalid',
      errors: [{ path: '/phone_number', message: NOT_MOBILE }],
    });
    expect((await listOf(PHONE)).json()).toEqual([]);
  });

  it.each(['10', '10.0', '10.00', '1e1'])(
    'when the value is written %s, then it is 10.00',
    async (literal) => {
      const response = await recharge(withValueLiteral(literal));
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({ value: 10 });
    },
  );

  it.each([
    ['10.005', [MONEY]],
    ['0.300000000000001', [MONEY]],
    ['"10"', ['must be number']],
    ['null', ['must be number']],
    ['1e400', ['must be number']],
    ['-1', ['must be >= 0.01', MONEY]],
    ['0', ['must be >= 0.01', MONEY]],
    ['10000.01', ['must be <= 10000', MONEY]],
  ])('when the value is %s, then 400 on /value and nothing is stored', async (literal, messages) => {
    expectProblem(await recharge(withValueLiteral(literal)), 400, {
      code: 'invalid_request',
      detail: BODY_INVALID,
      errors: messages.map((message) => ({ path: '/value', message })),
    });
    expect((await listOf(PHONE)).json()).toEqual([]);
  });

  it('when the value has more digits than a number holds (0.30000000000000004), then 400 on /value', async () => {
    expectProblem(await recharge(withValueLiteral('0.30000000000000004')), 400, {
      code: 'invalid_request',
      detail: 'the body has a number with more than 15 significant digits, which would be rounded',
      errors: [{ path: '/value', message: 'has more significant digits than can be held exactly (15)' }],
    });
    expect((await listOf(PHONE)).json()).toEqual([]);
  });

  it('sells products at the edges of the money range, exactly', async () => {
    const edges = {
      company_id: 'edges',
      products: [
        { id: 'cheap', value: 0.3 },
        { id: 'cent', value: 0.01 },
        { id: 'top', value: 10000 },
      ],
    };
    expect((await postJson(t().app, '/CompanyProducts', edges)).statusCode).toBe(201);
    for (const [productId, literal, value] of [
      ['cheap', '0.3', 0.3],
      ['cent', '0.01', 0.01],
      ['top', '10000', 10000],
      ['top', '10000.00', 10000],
    ] as const) {
      const response = await recharge(withValueLiteral(literal, productId, 'edges'));
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({ company_id: 'edges', product_id: productId, value });
    }
    expect((await listOf(PHONE)).json().map((r: Recharge) => r.value)).toEqual([0.3, 0.01, 10000, 10000]);
  });

  it.each([
    [
      'the company is unknown',
      { company_id: 'vivo_11' },
      'unknown_company',
      'company vivo_11 does not exist',
      [{ path: '/company_id', message: 'unknown company' }],
    ],
    [
      'the product is not the company’s',
      { product_id: 'tim_10' },
      'unknown_product',
      'company claro_11 has no product tim_10',
      [{ path: '/product_id', message: 'unknown product' }],
    ],
    [
      'the value differs from the product’s',
      { value: 15 },
      'value_mismatch',
      'product claro_10 costs 10.00, not 15.00',
      [{ path: '/value', message: 'must be 10.00' }],
    ],
  ])('when %s, then 422 and nothing is stored', async (_, overrides, code, detail, errors) => {
    const response = await recharge({ ...rechargeBody, ...overrides });
    expectProblem(response, 422, { code, detail, errors });
    expect((await listOf(PHONE)).json()).toEqual([]);
  });

  it('when the body has unknown or missing fields, then 400 lists each of them', async () => {
    const extra = await recharge({ ...rechargeBody, status: 'done' });
    expectProblem(extra, 400, {
      code: 'invalid_request',
      detail: BODY_INVALID,
      errors: [{ path: '/status', message: 'is not allowed' }],
    });
    expectProblem(await recharge({}), 400, {
      code: 'invalid_request',
      detail: BODY_INVALID,
      errors: ['company_id', 'product_id', 'phone_number', 'value'].map((field) => ({
        path: `/${field}`,
        message: 'is required',
      })),
    });
    expect((await listOf(PHONE)).json()).toEqual([]);
  });

  it('when GET has neither or both of id and phone_number, then 400 invalid_request', async () => {
    const { id } = await makeRecharge();
    for (const url of ['/PhoneRecharges', `/PhoneRecharges?id=${id}&phone_number=${PHONE}`]) {
      expectProblem(await get(url), 400, {
        code: 'invalid_request',
        detail: 'give exactly one of id and phone_number',
        errors: [{ path: '/', message: 'exactly one of id and phone_number is required' }],
      });
    }
  });

  it.each([
    ['unknown', '01936b2e-4f6a-7cde-8f00-000000000000'],
    ['malformed', 'abc'],
    ['an injection attempt', "' or 1=1 --"],
  ])('when the id is %s, then 404 not_found', async (_, id) => {
    await makeRecharge();
    expectProblem(await get(`/PhoneRecharges?id=${encodeURIComponent(id)}`), 404, {
      code: 'not_found',
      detail: 'no such recharge',
    });
  });

  it.each(['PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const)(
    'when the method is %s, then 405 with Allow: GET, HEAD, POST',
    async (method) => {
      const response = await t().app.inject({ method, url: '/PhoneRecharges' });
      expectProblem(response, 405, {
        code: 'method_not_allowed',
        detail: `${method} is not allowed here; allowed: GET, HEAD, POST`,
      });
      expect(response.headers.allow).toBe('GET, HEAD, POST');
    },
  );

  it('pages with limit and Link rel="next", walking every recharge exactly once, in order', async () => {
    const made: Recharge[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(await makeRecharge());
      if (i % 2 === 0) await makeRecharge({ phone_number: OTHER_PHONE });
    }
    const pages: Recharge[][] = [];
    let url: string | undefined = '/PhoneRecharges?phone_number=%2B55%2011%2099999-9999&limit=2';
    while (url) {
      const page = await get(url);
      expect(page.statusCode).toBe(200);
      pages.push(page.json());
      const link = page.headers.link as string | undefined;
      if (link) {
        expect(link).toMatch(
          /^<\/PhoneRecharges\?phone_number=5511999999999&limit=2&cursor=[\w-]+>; rel="next"$/,
        );
      }
      url = link?.slice(1, link.indexOf('>'));
    }
    expect(pages).toEqual([made.slice(0, 2), made.slice(2, 4), made.slice(4)]);

    const all = await listOf(PHONE);
    expect(all.headers.link).toBeUndefined();
    expect(all.json()).toEqual(made);
  });

  it('when limit or cursor is bad, then 400 naming it', async () => {
    await makeRecharge();
    await makeRecharge();
    for (const limit of ['0', '501', 'abc', '1.5']) {
      const response = await get(`/PhoneRecharges?phone_number=${PHONE}&limit=${limit}`);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'invalid_request', errors: [{ path: '/limit' }] });
    }
    const first = await get(`/PhoneRecharges?phone_number=${PHONE}&limit=1`);
    const cursor = String(first.headers.link).match(/cursor=([\w-]+)>/)?.[1] ?? '';
    const forged = Buffer.from(JSON.stringify(['2019-02-01T13:00:00.000Z', 'abc'])).toString('base64url');
    // A date no row can have: JavaScript would read it as 2 March.
    const impossible = Buffer.from(
      JSON.stringify(['2024-02-30T00:00:00.000Z', '00000000-0000-0000-0000-000000000000']),
    ).toString('base64url');
    for (const bad of [cursor.slice(0, -3), 'garbage', forged, impossible, 'x'.repeat(300)]) {
      const response = await get(`/PhoneRecharges?phone_number=${PHONE}&cursor=${bad}`);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'invalid_request', errors: [{ path: '/cursor' }] });
    }
  });

  it('when the catalog changes or is deleted, then recharges keep what they were sold for', async () => {
    const made = await makeRecharge();
    const changed = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 12.5 }] };
    expect((await putJson(t().app, '/CompanyProducts?company_id=claro_11', changed)).statusCode).toBe(200);
    const deleted = await t().app.inject({ method: 'DELETE', url: '/CompanyProducts?company_id=claro_11' });
    expect(deleted.statusCode).toBe(200);

    expect((await get(`/PhoneRecharges?id=${made.id}`)).json()).toEqual(made);
    expect((await listOf(PHONE)).json()).toEqual([made]);
    expect((await postJson(t().app, '/CompanyProducts', claro)).statusCode).toBe(201);
    expect((await get(`/PhoneRecharges?id=${made.id}`)).json()).toEqual(made);
  });

  it('when 30 recharges are made at once, then all succeed with distinct ids and all are listed', async () => {
    const responses = await Promise.all(Array.from({ length: 30 }, () => recharge()));
    expect(responses.map((response) => response.statusCode)).toEqual(Array(30).fill(201));
    const ids = responses.map((response) => response.json().id as string);
    expect(new Set(ids).size).toBe(30);
    const listed = (await listOf(PHONE)).json() as Recharge[];
    expect(listed.map((r) => r.id).sort()).toEqual([...ids].sort());
  });
});
