import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { postJson, rechargeBody } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

const PHONE = '5511999999999';
const NOT_DIGITS = 'must be a whole number of at most 15 digits 0-9';
const CONTROL = 'must not contain control characters';
const anonymous = { authorization: undefined };

/** A GET over a real socket, the path sent as written: app.inject would resolve `..` before routing. */
function getRawPath(address: AddressInfo, path: string) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: address.port, path }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () =>
        resolve({ status: incoming.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
      );
    });
    outgoing.on('error', reject).end();
  });
}

describe.each(databaseTargets)('input that once reached PostgreSQL unchecked, on %s', (target) => {
  const t = useTestApp(target);
  const errorLogs = () =>
    t()
      .logs()
      .filter((line) => Number(line.level) >= 50);

  it.each([
    'Infinity',
    '-Infinity',
    '1e400',
    '0x10',
    '1e2',
    '%2010',
    '10.0',
    '+10',
    '9'.repeat(400),
    '10&limit=20',
  ])('when limit=%s, then 400 naming /limit on every paginated list', async (limit) => {
    for (const url of [
      `/AuditEvents?limit=${limit}`,
      `/PhoneRecharges?phone_number=${PHONE}&limit=${limit}`,
    ]) {
      const response = await t().app.inject({ url });
      expectProblem(response, 400, {
        code: 'invalid_request',
        detail: 'the query string is invalid',
        errors: [{ path: '/limit', message: NOT_DIGITS }],
      });
    }
    expect(errorLogs()).toEqual([]);
  });

  it('when limit is digits, then it is the page size, and out of range it is a 400', async () => {
    expect((await t().app.inject({ url: '/AuditEvents?limit=010' })).statusCode).toBe(200);
    expect(
      (await t().app.inject({ url: `/PhoneRecharges?phone_number=${PHONE}&limit=500` })).statusCode,
    ).toBe(200);
    const response = await t().app.inject({ url: '/AuditEvents?limit=501' });
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: 'the query string is invalid',
      errors: [{ path: '/limit', message: 'must be <= 500' }],
    });
  });

  it.each([
    ['DELETE', '/ApiKeys?id=%00', '/id'],
    ['DELETE', '/ApiKeys?id=0123456789abcde%00', '/id'],
    ['GET', '/PhoneRecharges?id=%00', '/id'],
    ['GET', `/PhoneRecharges?phone_number=${PHONE}&cursor=a%00b`, '/cursor'],
    ['GET', '/CompanyProducts?company_id=claro%0A', '/company_id'],
    ['GET', '/AuditEvents?cursor=%7F', '/cursor'],
  ])('when %s %s carries a control character, then 400 naming it', async (method, url, path) => {
    const response = await t().app.inject({ method: method as 'GET', url });
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: 'the query string is invalid',
      errors: [{ path, message: CONTROL }],
    });
    expect(errorLogs()).toEqual([]);
  });

  it('when an API key id is not 16 hex digits, then 400; a well-formed unknown one is 404', async () => {
    for (const id of ['bootstrap', '0123456789ABCDEF', '0123456789abcdef0', "x'--"]) {
      const response = await t().app.inject({
        method: 'DELETE',
        url: `/ApiKeys?id=${encodeURIComponent(id)}`,
      });
      expectProblem(response, 400, {
        code: 'invalid_request',
        detail: 'the query string is invalid',
        errors: [{ path: '/id', message: 'must match pattern "^[0-9a-f]{16}$"' }],
      });
    }
    const unknown = await t().app.inject({ method: 'DELETE', url: '/ApiKeys?id=0123456789abcdef' });
    expectProblem(unknown, 404, { code: 'not_found', detail: 'no active API key 0123456789abcdef' });
  });

  it('when a JSON string or member name has a control character, then 400 naming where, nothing stored', async () => {
    const named = await postJson(t().app, '/ApiKeys', { name: 'a\u0000b', scopes: ['admin'] });
    expectProblem(named, 400, {
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: [
        { path: '/name', message: 'must match pattern "^[A-Za-z0-9 _.:-]+$"' },
        { path: '/name', message: CONTROL },
      ],
    });
    const keyed = await postJson(t().app, '/PhoneRecharges', { ...rechargeBody, 'x\u0001': 1 });
    expectProblem(keyed, 400, {
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: [
        { path: '/x\u0001', message: 'is not allowed' },
        { path: '/', message: 'must not have member names with control characters' },
      ],
    });
    expect((await t().app.inject({ url: '/ApiKeys' })).json()).toEqual([]);
    expect(errorLogs()).toEqual([]);
  });

  it('when a static file of /docs is asked for outside its folder, then 403 forbidden, logged below error', async () => {
    await t().app.listen({ port: 0, host: '127.0.0.1' });
    const address = t().app.server.address() as AddressInfo;
    for (const path of ['/docs/static/../package.json', '/docs/static/%2e%2e/%2e%2e/package.json']) {
      const response = await getRawPath(address, path);
      expect(response).toEqual({
        status: 403,
        body: {
          type: 'about:blank',
          title: 'Forbidden',
          status: 403,
          code: 'forbidden',
          detail: 'Forbidden',
          request_id: expect.any(String),
        },
      });
    }
    expect(errorLogs()).toEqual([]);
  });

  it('when a static file is asked for with a stale If-Match or a range past its end, then 412 or 416', async () => {
    const stale = await t().app.inject({
      url: '/docs/static/index.css',
      headers: { ...anonymous, 'if-match': '"stale"' },
    });
    expect(stale.statusCode).toBe(412);
    expect(stale.json()).toMatchObject({ status: 412, code: 'precondition_failed' });
    const beyond = await t().app.inject({
      url: '/docs/static/index.css',
      headers: { ...anonymous, range: 'bytes=99999999-' },
    });
    expect(beyond.statusCode).toBe(416);
    expect(beyond.headers['content-range']).toMatch(/^bytes \*\/[0-9]+$/);
    expect(beyond.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(beyond.json()).toMatchObject({
      status: 416,
      title: 'Range Not Satisfiable',
      code: 'range_not_satisfiable',
    });
    expect(errorLogs()).toEqual([]);
  });
});
