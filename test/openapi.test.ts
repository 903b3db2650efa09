import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../src/shared/access.js';
import { ERROR_CODES } from '../src/shared/errors.js';
import { RESPONSE_HEADERS } from '../src/shared/openapi.js';
import { claro, createKey, postJson, putJson, rechargeBody } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { type Document, type Operation, operationsOf, servedDocument } from './helpers/openapi.js';

const COMMON = [429, 500, 503];
const KEYED = [401, 403, ...COMMON];
const BODY = [400, 413, 415];
// What each operation can answer: a GET never 413 or 415, a public route never 401 or 403.
const STATUSES: Record<string, number[]> = {
  listCompanyProducts: [200, 304, 400, 404, ...KEYED],
  createCompanyProducts: [201, ...BODY, 409, ...KEYED],
  replaceCompanyProducts: [200, ...BODY, 404, 412, ...KEYED],
  deleteCompanyProducts: [200, 400, 404, 412, ...KEYED],
  createPhoneRecharge: [201, ...BODY, 409, 422, ...KEYED],
  listPhoneRecharges: [200, 400, 404, ...KEYED],
  createApiKey: [201, ...BODY, ...KEYED],
  listApiKeys: [200, ...KEYED],
  revokeApiKey: [204, 400, 404, ...KEYED],
  listAuditEvents: [200, 400, ...KEYED],
  getMetrics: [200, ...KEYED],
  listSandboxCarrierTopUps: [200, 400, ...KEYED],
  getAccounts: [200, 400, 404, ...KEYED],
  replaceAccountLimits: [200, ...BODY, 404, ...KEYED],
  createLedgerEntry: [201, ...BODY, 404, 409, 422, ...KEYED],
  listLedgerEntries: [200, 400, ...KEYED],
  createWebhookEndpoint: [201, ...BODY, 409, 422, ...KEYED],
  listWebhookEndpoints: [200, ...KEYED],
  replaceWebhookEndpoint: [200, ...BODY, 404, 409, 422, ...KEYED],
  deleteWebhookEndpoint: [204, 400, 404, ...KEYED],
  listWebhookDeliveries: [200, 400, ...KEYED],
  resendWebhookMessage: [202, 400, 404, ...KEYED],
  checkLiveness: [200, ...COMMON],
  checkReadiness: [200, ...COMMON],
};
// The headers of successful answers beside X-Request-Id and RateLimit-*.
const SUCCESS_HEADERS: Record<string, Record<number, string[]>> = {
  listCompanyProducts: { 200: ['ETag'], 304: ['ETag'] },
  createCompanyProducts: { 201: ['Location', 'ETag'] },
  replaceCompanyProducts: { 200: ['ETag'] },
  createPhoneRecharge: { 201: ['Location', 'Idempotent-Replayed', 'Preference-Applied'] },
  listPhoneRecharges: { 200: ['Link'] },
  listAuditEvents: { 200: ['Link'] },
  createLedgerEntry: { 201: ['Idempotent-Replayed'] },
  listLedgerEntries: { 200: ['Link'] },
  listWebhookDeliveries: { 200: ['Link'] },
};
const ref = (name: string) => ({ $ref: `#/components/headers/${name}` });
const headerNames = (response: { headers?: object } | undefined) =>
  Object.keys(response?.headers ?? {}).sort();
const byId = (doc: Document) =>
  Object.fromEntries(operationsOf(doc).map(({ operation }) => [operation.operationId, operation]));

describe.each(databaseTargets)('the OpenAPI document on %s', (target) => {
  const t = useTestApp(target);
  let doc: Document;
  let operations: Record<string, Operation>;
  beforeAll(async () => {
    doc = await servedDocument(t().app);
    operations = byId(doc);
  });

  it('when it is read, then every operation has its own camelCase operationId, a verb first', () => {
    const ids = operationsOf(doc).map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids)
      expect(id).toMatch(/^(list|get|create|replace|delete|revoke|resend|check)[A-Z][A-Za-z]+$/);
    expect(Object.keys(operations).sort()).toEqual(Object.keys(STATUSES).sort());
  });

  it('when it is read, then it names its server and says outright which operations take no key', () => {
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(operations.checkLiveness?.security).toEqual([]);
    expect(operations.checkReadiness?.security).toEqual([]);
  });

  it('when it is read, then each keyed operation names its scope in x-required-scopes and the bearer scheme lists them', () => {
    const scheme = doc.components.securitySchemes.apiKey?.description ?? '';
    for (const [id, operation] of Object.entries(operations)) {
      if (operation.security?.length === 0) {
        expect(operation['x-required-scopes'], id).toBeUndefined();
        continue;
      }
      const scopes = operation['x-required-scopes'];
      expect(scopes, id).toEqual([expect.any(String)]);
      expect(operation.security, id).toEqual([{ apiKey: scopes }]);
      expect(scheme).toContain(`\`${id}\``);
    }
    for (const scope of SCOPES) expect(scheme).toContain(`\`${scope}\``);
    expect(operations.createPhoneRecharge?.['x-required-scopes']).toEqual(['recharges:write']);
  });

  it('when it is read, then each operation lists the statuses it can give, and no others', () => {
    for (const [id, statuses] of Object.entries(STATUSES)) {
      expect(Object.keys(operations[id]?.responses ?? {}).map(Number), id).toEqual(statuses.sort());
    }
  });

  it('when it is read, then every error example shows a code its status really has', () => {
    for (const [id, operation] of Object.entries(operations)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue;
        const examples = Object.values(response.content?.['application/problem+json']?.examples ?? {});
        expect(examples.length, `${id} ${status}`).toBeGreaterThan(0);
        for (const { value } of examples) {
          expect(value.status, `${id} ${status}`).toBe(Number(status));
          expect(ERROR_CODES[value.code as keyof typeof ERROR_CODES]?.status, `${id} ${value.code}`).toBe(
            Number(status),
          );
        }
      }
    }
    const codesOf = (id: string, status: number) =>
      Object.values(operations[id]?.responses[status]?.content?.['application/problem+json']?.examples ?? {})
        .map(({ value }) => value.code)
        .sort();
    expect(codesOf('createPhoneRecharge', 422)).toEqual(
      [
        'daily_limit_exceeded',
        'idempotency_key_reused',
        'insufficient_funds',
        'phone_recently_recharged',
        'unknown_company',
        'unknown_product',
        'value_mismatch',
      ].sort(),
    );
    expect(codesOf('listCompanyProducts', 400)).toEqual(['invalid_request']);
    expect(codesOf('createCompanyProducts', 415)).toEqual(['unsupported_media_type']);
    const notAllowed = doc.components.responses.MethodNotAllowed;
    expect(notAllowed?.headers?.Allow).toEqual(ref('Allow'));
    expect(
      Object.values(notAllowed?.content?.['application/problem+json']?.examples ?? {}).map(
        (e) => e.value.code,
      ),
    ).toEqual(['method_not_allowed']);
  });

  it('when it is read, then each answer documents its headers, by reference to their one definition', () => {
    expect(Object.keys(doc.components.headers).sort()).toEqual(Object.keys(RESPONSE_HEADERS).sort());
    for (const [id, operation] of Object.entries(operations)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const where = `${id} ${status}`;
        for (const [name, header] of Object.entries(response.headers ?? {}))
          expect(header, where).toEqual(ref(name));
        const names = headerNames(response);
        expect(names, where).toContain('X-Request-Id');
        const limits = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'];
        if (status === '401') {
          expect(names, where).toContain('WWW-Authenticate');
          for (const name of limits) expect(names, where).not.toContain(name);
        } else {
          expect(names, where).toEqual(expect.arrayContaining(limits));
        }
        if (status === '429' || status === '503') expect(names, where).toContain('Retry-After');
        for (const name of SUCCESS_HEADERS[id]?.[Number(status)] ?? []) expect(names, where).toContain(name);
      }
    }
    expect(headerNames(operations.createPhoneRecharge?.responses[409])).toContain('Retry-After');
  });

  it('when it is read, then Idempotency-Key and limit carry the rules the server enforces', () => {
    const parameter = (id: string, name: string) =>
      operations[id]?.parameters?.find((candidate) => candidate.name === name)?.schema;
    expect(parameter('createPhoneRecharge', 'idempotency-key')?.pattern).toEqual(expect.any(String));
    for (const id of ['listPhoneRecharges', 'listAuditEvents']) {
      expect(parameter(id, 'limit'), id).toMatchObject({ default: 100, minimum: 1, maximum: 500 });
    }
  });

  it('when Idempotency-Key values are sent, then the server refuses exactly those the documented pattern refuses', async () => {
    const pattern = new RegExp(
      operations.createPhoneRecharge?.parameters?.find((p) => p.name === 'idempotency-key')?.schema
        ?.pattern ?? '',
    );
    // Printable ASCII and the characters the rule is about; an unknown company, so nothing is stored.
    const char = fc.oneof(
      fc.constantFrom(' ', '"', '!', '~', '#'),
      fc.string({ unit: 'binary-ascii', maxLength: 1 }),
    );
    const printable = fc
      .string({ unit: char, minLength: 0, maxLength: 12 })
      .filter((s) => !/[^\x20-\x7e]/.test(s));
    const key = fc.oneof(
      printable,
      printable.map((s) => `"${s}"`),
      fc.nat({ max: 3 }).map((extra) => 'k'.repeat(254 + extra)),
    );
    await fc.assert(
      fc.asyncProperty(key, async (value) => {
        const body = { ...rechargeBody, company_id: 'vivo_11' };
        const response = await postJson(t().app, '/PhoneRecharges', body, { 'idempotency-key': value });
        expect(response.statusCode, JSON.stringify(value)).toBe(pattern.test(value) ? 422 : 400);
      }),
      { numRuns: 80 },
    );
  });
});

describe.each(databaseTargets)('the document against the answers on %s', (target) => {
  const t = useTestApp(target, {
    env: { AUTH_FAILURES_PER_MINUTE: '1000' },
    clearCatalog: true,
    seed: [claro],
  });
  const known = Object.keys(RESPONSE_HEADERS).map((name) => [name, name.toLowerCase()] as const);
  let operations: Record<string, Operation>;
  beforeAll(async () => {
    operations = byId(await servedDocument(t().app));
  });

  /** The answer's status is documented for the operation, with every header it sent and the code it gave. */
  function expectDocumented(id: string, response: LightMyRequestResponse, status: number) {
    expect(response.statusCode, `${id}: ${response.body}`).toBe(status);
    const documented = operations[id]?.responses[status];
    expect(documented, `${id} ${status}`).toBeDefined();
    for (const [name, lower] of known) {
      if (response.headers[lower] !== undefined)
        expect(headerNames(documented), `${id} ${status}`).toContain(name);
    }
    if (status < 400) return;
    const codes = Object.values(documented?.content?.['application/problem+json']?.examples ?? {}).map(
      ({ value }) => value.code,
    );
    expect(codes, `${id} ${status}`).toContain(response.json().code);
  }

  it('when every operation is refused for its key, then 401 and 403 are as documented', async () => {
    const { headers: weak } = await createKey(t().app, { name: 'lacks-all', scopes: ['catalog:read'] });
    for (const { path, method, operation } of operationsOf(await servedDocument(t().app))) {
      if (operation.security?.length === 0) continue;
      const send = (headers: Record<string, string | undefined>) =>
        t().app.inject({ method: method.toUpperCase() as 'GET', url: path, headers });
      expectDocumented(operation.operationId, await send({ authorization: undefined }), 401);
      if (operation.operationId !== 'listCompanyProducts')
        expectDocumented(operation.operationId, await send(weak), 403);
    }
  });

  it('when the catalog is read and written, then each answer is as documented', async () => {
    const app = t().app;
    const vivo = { company_id: 'vivo_11', products: [{ id: 'vivo_15', value: 15 }] };
    const read = await app.inject('/CompanyProducts?company_id=claro_11');
    expectDocumented('listCompanyProducts', read, 200);
    const etag = String(read.headers.etag);
    const headers = { 'if-none-match': etag };
    expectDocumented(
      'listCompanyProducts',
      await app.inject({ url: '/CompanyProducts?company_id=claro_11', headers }),
      304,
    );
    expectDocumented('listCompanyProducts', await app.inject('/CompanyProducts?company_id=vivo_12'), 404);
    expectDocumented('listCompanyProducts', await app.inject('/CompanyProducts?x=1'), 400);
    expectDocumented('createCompanyProducts', await postJson(app, '/CompanyProducts', vivo), 201);
    expectDocumented('createCompanyProducts', await postJson(app, '/CompanyProducts', vivo), 409);
    expectDocumented('createCompanyProducts', await postJson(app, '/CompanyProducts', {}), 400);
    const text = {
      method: 'POST' as const,
      url: '/CompanyProducts',
      headers: { 'content-type': 'text/plain' },
    };
    expectDocumented('createCompanyProducts', await app.inject({ ...text, payload: 'vivo' }), 415);
    const huge = JSON.stringify({ ...vivo, padding: 'x'.repeat(300_000) });
    expectDocumented('createCompanyProducts', await postJson(app, '/CompanyProducts', huge), 413);
    const stale = { 'if-match': '"stale"' };
    expectDocumented('replaceCompanyProducts', await putJson(app, '/CompanyProducts', vivo, stale), 412);
    const vivo12 = { ...vivo, company_id: 'vivo_12' };
    expectDocumented('replaceCompanyProducts', await putJson(app, '/CompanyProducts', vivo12), 404);
    expectDocumented('replaceCompanyProducts', await putJson(app, '/CompanyProducts', vivo), 200);
    const remove = (url: string, more: Record<string, string> = {}) =>
      app.inject({ method: 'DELETE', url, headers: more });
    expectDocumented(
      'deleteCompanyProducts',
      await remove('/CompanyProducts?company_id=vivo_11', stale),
      412,
    );
    expectDocumented('deleteCompanyProducts', await remove('/CompanyProducts?company_id=vivo_12'), 404);
    expectDocumented('deleteCompanyProducts', await remove('/CompanyProducts'), 400);
    expectDocumented('deleteCompanyProducts', await remove('/CompanyProducts?company_id=vivo_11'), 200);
  });

  it('when recharges, keys and the audit trail are used, then each answer is as documented', async () => {
    const app = t().app;
    const recharge = (body: object, key?: string) =>
      postJson(app, '/PhoneRecharges', body, key ? { 'idempotency-key': key } : {});
    const first = await recharge(rechargeBody, 'doc-1');
    expectDocumented('createPhoneRecharge', first, 201);
    expectDocumented('createPhoneRecharge', await recharge(rechargeBody, 'doc-1'), 201);
    expectDocumented('createPhoneRecharge', await recharge(rechargeBody, ' bad'), 400);
    expectDocumented('createPhoneRecharge', await recharge({ ...rechargeBody, value: 20 }, 'doc-1'), 422);
    expectDocumented('createPhoneRecharge', await recharge({ ...rechargeBody, company_id: 'vivo_11' }), 422);
    expectDocumented('createPhoneRecharge', await recharge({ ...rechargeBody, product_id: 'claro_15' }), 422);
    expectDocumented('createPhoneRecharge', await recharge({ ...rechargeBody, value: 15 }), 422);
    const list = (query: string) => app.inject(`/PhoneRecharges?${query}`);
    expectDocumented('listPhoneRecharges', await list(`id=${first.json().id}`), 200);
    expectDocumented(
      'listPhoneRecharges',
      await list(`phone_number=${rechargeBody.phone_number}&limit=1`),
      200,
    );
    expectDocumented('listPhoneRecharges', await list('id=01900000-0000-7000-8000-000000000000'), 404);
    expectDocumented('listPhoneRecharges', await list(''), 400);

    const key = await postJson(app, '/ApiKeys', { name: 'doc-shop', scopes: ['recharges:read'] });
    expectDocumented('createApiKey', key, 201);
    expectDocumented('listApiKeys', await app.inject('/ApiKeys'), 200);
    const revoke = (id: string) => app.inject({ method: 'DELETE', url: `/ApiKeys?id=${id}` });
    expectDocumented('revokeApiKey', await revoke(key.json().id), 204);
    expectDocumented('revokeApiKey', await revoke(key.json().id), 404);
    const audit = await app.inject('/AuditEvents?limit=1');
    expect(audit.headers.link).toEqual(expect.any(String));
    expectDocumented('listAuditEvents', audit, 200);
    expectDocumented('listAuditEvents', await app.inject('/AuditEvents?cursor=x'), 400);
    expectDocumented('getMetrics', await app.inject('/metrics'), 200);
    expectDocumented('checkLiveness', await app.inject('/healthz'), 200);
    expectDocumented('checkReadiness', await app.inject('/readyz'), 200);
  });
});

describe.each(databaseTargets)('the document against a rate limit on %s', (target) => {
  const t = useTestApp(target, { env: { RATE_LIMIT_PER_MINUTE: '1' } });

  it('when a key is over its limit, then the 429 and its headers are as documented', async () => {
    const operations = byId(await servedDocument(t().app));
    await t().app.inject('/ApiKeys');
    const refused = await t().app.inject('/ApiKeys');
    expect(refused.statusCode).toBe(429);
    const documented = headerNames(operations.listApiKeys?.responses[429]);
    for (const name of Object.keys(RESPONSE_HEADERS)) {
      if (refused.headers[name.toLowerCase()] !== undefined) expect(documented).toContain(name);
    }
    expect(refused.headers['retry-after']).toEqual(expect.any(String));
  });
});
