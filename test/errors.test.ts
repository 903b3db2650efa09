import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claro, createTestApp, postJson, type TestApp } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.each(databaseTargets)('error responses on %s', (target) => {
  const t = useTestApp(target, { clearCatalog: true });

  it('when the JSON is malformed, then 400 invalid_request and nothing is stored', async () => {
    const response = await postJson(t().app, '/CompanyProducts', '{"company_id": "claro_11", ');
    expectProblem(response, 400, {
      title: 'Bad Request',
      code: 'invalid_request',
      detail: 'the body is not valid JSON',
    });
    expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
  });

  it('when the body is empty under a JSON content type, then 400 invalid_request', async () => {
    const response = await postJson(t().app, '/CompanyProducts', '');
    expectProblem(response, 400, {
      title: 'Bad Request',
      code: 'invalid_request',
      detail: 'the body is empty; send a JSON document',
    });
  });

  it('when no route matches, then 404 not_found naming the method and path, without the query', async () => {
    const response = await t().app.inject({ method: 'GET', url: '/nowhere?phone_number=5511999999999' });
    expectProblem(response, 404, {
      title: 'Not Found',
      code: 'not_found',
      detail: 'no route for GET /nowhere',
    });
  });

  it.each([
    ['text/plain', JSON.stringify(claro)],
    ['application/x-www-form-urlencoded', 'company_id=claro_11&products='],
    ['application/xml', '<catalog company_id="claro_11"/>'],
  ])(
    'when the body is %s, then 415 unsupported_media_type and nothing is stored',
    async (contentType, payload) => {
      const response = await t().app.inject({
        method: 'POST',
        url: '/CompanyProducts',
        headers: { 'content-type': contentType },
        payload,
      });
      expectProblem(response, 415, {
        title: 'Unsupported Media Type',
        code: 'unsupported_media_type',
        detail: 'the body must be JSON: send Content-Type: application/json',
      });
      expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
    },
  );

  it('when a JSON body is declared in a charset other than UTF-8, then 415 and nothing is stored', async () => {
    const latin1 = Buffer.from(JSON.stringify(claro).replace('"claro_11"', '"clar\u00e9_11"'), 'latin1');
    const refused = await t().app.inject({
      method: 'POST',
      url: '/CompanyProducts',
      headers: { 'content-type': 'application/json; charset=ISO-8859-1' },
      payload: latin1,
    });
    expectProblem(refused, 415, {
      code: 'unsupported_media_type',
      detail: 'the body must be UTF-8 JSON; charset=iso-8859-1 is not accepted',
    });
    // A parameter list the strict parser refuses still has its charset read.
    for (const header of [
      'application/json; charset=ISO-8859-1;',
      'application/json; foo=a b; charset=latin1',
    ]) {
      const loose = await t().app.inject({
        method: 'POST',
        url: '/CompanyProducts',
        headers: { 'content-type': header },
        payload: latin1,
      });
      expect(loose.statusCode, header).toBe(415);
    }
    expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
    // The first is stored (201); the same catalog again reaches the store and is a 409: read either way.
    for (const [charset, status] of [
      ['utf-8', 201],
      ['"UTF-8"', 409],
      ['utf8', 409],
    ] as const) {
      const accepted = await t().app.inject({
        method: 'POST',
        url: '/CompanyProducts',
        headers: { 'content-type': `application/json; charset=${charset}` },
        payload: JSON.stringify(claro),
      });
      expect(accepted.statusCode, charset).toBe(status);
    }
  });

  it('when a recharge breaks every rule, then 400 lists each field', async () => {
    const response = await postJson(t().app, '/PhoneRecharges', {
      company_id: 'bad id!',
      phone_number: '12345',
      value: '10',
    });
    expectProblem(response, 400, {
      title: 'Bad Request',
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: expect.any(Array),
    });
    const paths = [...new Set((response.json().errors as { path: string }[]).map((e) => e.path))].sort();
    expect(paths).toEqual(['/company_id', '/phone_number', '/product_id', '/value']);
    expect(response.json().errors).toContainEqual({ path: '/product_id', message: 'is required' });
    expect(response.json().errors).toContainEqual({
      path: '/phone_number',
      message: 'must be a Brazilian mobile number: 55, a DDD and nine digits starting with 9',
    });
  });

  it('when the body has a field the schema does not know, then 400 refuses it rather than dropping it', async () => {
    const response = await postJson(t().app, '/CompanyProducts', { ...claro, owner: 'me' });
    expectProblem(response, 400, {
      title: 'Bad Request',
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: [{ path: '/owner', message: 'is not allowed' }],
    });
    expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
  });

  it.each([
    ['__proto__', '{"company_id":"claro_11","products":[],"__proto__":{"isAdmin":true}}'],
    [
      'constructor.prototype',
      '{"company_id":"claro_11","products":[],"constructor":{"prototype":{"isAdmin":true}}}',
    ],
  ])('when the body tries %s poisoning, then 400 and nothing is stored', async (_name, payload) => {
    const response = await postJson(t().app, '/CompanyProducts', payload);
    expectProblem(response, 400, {
      title: 'Bad Request',
      code: 'invalid_request',
      detail: 'the body has a forbidden __proto__ or constructor.prototype key',
    });
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
  });

  it('when X-Request-Id is sane, then it is echoed on the response and in the problem', async () => {
    const response = await t().app.inject({
      method: 'GET',
      url: '/nowhere',
      headers: { 'x-request-id': 'abc-123' },
    });
    expect(response.headers['x-request-id']).toBe('abc-123');
    expect(response.json()).toMatchObject({ request_id: 'abc-123' });
  });

  it.each([
    ['spaces', 'abc 123'],
    ['200 characters', 'a'.repeat(200)],
    ['markup', '<script>alert(1)</script>'],
  ])('when X-Request-Id has %s, then a generated uuid replaces it', async (_name, given) => {
    const response = await t().app.inject({
      method: 'GET',
      url: '/nowhere',
      headers: { 'x-request-id': given },
    });
    const id = String(response.headers['x-request-id']);
    expect(id).toMatch(UUID);
    expect(response.json()).toMatchObject({ request_id: id });
    expect(response.body).not.toContain(given);
  });

  it('when no X-Request-Id is given, then each response gets its own uuid', async () => {
    const first = await t().app.inject({ method: 'GET', url: '/healthz' });
    const second = await t().app.inject({ method: 'GET', url: '/healthz' });
    expect(first.headers['x-request-id']).toMatch(UUID);
    expect(second.headers['x-request-id']).toMatch(UUID);
    expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']);
  });
});

describe('body limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { BODY_LIMIT: '2048' });
  });
  afterAll(() => t.close());

  it('when the body is over BODY_LIMIT, then 413 payload_too_large and nothing is stored', async () => {
    const payload = JSON.stringify({ company_id: 'claro_11', products: [], pad: 'x'.repeat(3000) });
    expect(payload.length).toBeGreaterThan(3000);
    const response = await postJson(t.app, '/CompanyProducts', payload);
    expectProblem(response, 413, {
      title: 'Content Too Large',
      code: 'payload_too_large',
      detail: 'the body is larger than the limit of 2048 bytes',
    });
    expect((await t.app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
  });

  it('when the body is just under BODY_LIMIT, then it is parsed and validated as usual', async () => {
    const payload = JSON.stringify({ company_id: 'claro_11', products: [], pad: 'x'.repeat(1900) });
    expect(payload.length).toBeLessThanOrEqual(2048);
    const response = await postJson(t.app, '/CompanyProducts', payload);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ errors: [{ path: '/pad', message: 'is not allowed' }] });
  });
});

describe('unexpected failures', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(
      'pglite',
      {},
      {
        beforeReady: (app) => {
          app.get('/boom', { config: { public: true } }, async () => {
            throw new Error('SELECT secret FROM /etc/passwd');
          });
        },
      },
    );
  });
  afterAll(() => t?.close());

  it('when a handler throws, then a bare 500 internal_error that shows nothing internal, logged with the request id', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/boom',
      headers: { 'x-request-id': 'boom-1' },
    });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toBe(PROBLEM_TYPE);
    expect(response.json()).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      code: 'internal_error',
      detail: 'an unexpected error occurred',
      request_id: 'boom-1',
    });
    for (const leak of ['SELECT', 'secret', '/etc/passwd', 'stack', ' at ', '.ts', 'node_modules']) {
      expect(response.body).not.toContain(leak);
    }

    const errorLine = t.logs().find((line) => line.level === 50 && line.request_id === 'boom-1');
    expect(errorLine).toMatchObject({
      msg: 'unexpected error',
      err: { type: 'Error', message: 'SELECT secret FROM /etc/passwd', stack: expect.any(String) },
    });
  });
});

describe('database failures', () => {
  it('when the database is gone, then GET /CompanyProducts answers a problem without internals', async () => {
    const { app, database, logs } = await createTestApp('pglite');
    try {
      await database.close();
      const response = await app.inject({ method: 'GET', url: '/CompanyProducts' });
      // docs/api.md (Errors) asks 503 unavailable with Retry-After; PGlite's closed client currently gives
      // a 500.
      expect([500, 503]).toContain(response.statusCode);
      expect(response.headers['content-type']).toBe(PROBLEM_TYPE);
      const body = response.json();
      if (response.statusCode === 503) {
        expect(response.headers['retry-after']).toBe('5');
        expect(body).toMatchObject({ code: 'unavailable' });
      } else {
        expect(body).toMatchObject({ code: 'internal_error', detail: 'an unexpected error occurred' });
      }
      expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'request_id', 'status', 'title', 'type']);
      expect(body.request_id).toBe(response.headers['x-request-id']);
      expect(response.body.toLowerCase()).not.toMatch(/pglite|select|closed/);
      expect(logs().some((line) => line.level === 50 && line.request_id === body.request_id)).toBe(
        response.statusCode === 500,
      );
    } finally {
      await app.close();
    }
  });
});
