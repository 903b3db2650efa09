import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { HTTPMethods } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { API_HEADERS } from '../src/plugins/security-headers.js';
import {
  claro,
  createTestApp,
  postJson,
  sendAdminKeyByDefault,
  type TestApp,
  testConfig,
  tim,
} from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { expectProblem } from './helpers/problems.js';

// Every route the API serves, with its methods; HEAD and the hidden 405 routes are not documented.
const DOCUMENTED_ROUTES: Record<string, string[]> = {
  '/Accounts': ['get', 'put'],
  '/ApiKeys': ['delete', 'get', 'post'],
  '/AuditEvents': ['get'],
  '/CompanyProducts': ['delete', 'get', 'post', 'put'],
  '/LedgerEntries': ['get', 'post'],
  '/PhoneRecharges': ['get', 'post'],
  '/SandboxCarrier/TopUps': ['get'],
  '/WebhookDeliveries': ['get', 'post'],
  '/WebhookEndpoints': ['delete', 'get', 'post', 'put'],
  '/healthz': ['get'],
  '/metrics': ['get'],
  '/readyz': ['get'],
};

describe.each(databaseTargets)('operations on %s', (target) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(target);
  });
  afterAll(() => t.close());

  it('when the process runs, then /healthz answers 200 ok', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('when the database answers, then /readyz answers 200 ready', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready' });
  });

  it('serves a valid OpenAPI 3.1 document listing every route, method and shared schema', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json();

    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');

    const documented = Object.fromEntries(
      Object.entries(doc.paths as Record<string, object>).map(([path, item]) => [
        path,
        Object.keys(item).sort(),
      ]),
    );
    expect(documented).toEqual(DOCUMENTED_ROUTES);
    for (const [url, methods] of Object.entries(DOCUMENTED_ROUTES)) {
      for (const method of methods) {
        expect(t.app.hasRoute({ url, method: method.toUpperCase() as HTTPMethods })).toBe(true);
      }
    }
    expect(Object.keys(doc.components.schemas).sort()).toEqual([
      'Account',
      'AccountLimitsInput',
      'ApiKey',
      'AuditEvent',
      'Catalog',
      'CreatedApiKey',
      'LedgerEntry',
      'LedgerEntryInput',
      'NewApiKey',
      'Problem',
      'Recharge',
      'RechargeInput',
      'WebhookEndpoint',
      'WebhookEndpointInput',
      'WebhookEndpointReplace',
      'WebhookEndpointWithSecret',
      'WebhookMessage',
    ]);
  });

  it('when /docs is opened, then an HTML page answers', async () => {
    let response = await t.app.inject({ method: 'GET', url: '/docs' });
    if (response.statusCode >= 300 && response.statusCode < 400) {
      response = await t.app.inject({ method: 'GET', url: String(response.headers.location) });
    }
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('<html');
    // helmet's headers for a page; served over plain http here, so the policy upgrades nothing (docs.test.ts).
    expect(response.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(response.headers['content-security-policy']).not.toMatch(/upgrade-insecure-requests/);
    expect(response.headers).toMatchObject({
      'cross-origin-opener-policy': 'same-origin',
      'origin-agent-cluster': '?1',
      'referrer-policy': 'no-referrer',
      'x-dns-prefetch-control': 'off',
      'x-download-options': 'noopen',
      'x-permitted-cross-domain-policies': 'none',
      'x-xss-protection': '0',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
    });
    expect(response.headers['x-request-id']).toEqual(expect.any(String));
  });

  it('when anything else answers, then it carries the API’s security headers and its request id', async () => {
    // Cache-Control depends on the route and the status (test/protocol.test.ts).
    const { 'cache-control': _, ...expected } = API_HEADERS;
    for (const url of ['/CompanyProducts', '/healthz', '/nowhere', '/openapi.json', '/docsx']) {
      for (const headers of [{}, { authorization: undefined }, { authorization: 'Bearer rk_nope' }]) {
        const response = await t.app.inject({ method: 'GET', url, headers });
        expect(response.headers, `${url} ${JSON.stringify(headers)}`).toMatchObject(expected);
        expect(response.headers['x-request-id']).toEqual(expect.any(String));
        expect(response.headers['x-dns-prefetch-control'], 'a page header').toBeUndefined();
      }
    }
  });

  it('when a request carries a phone number and a bearer token, then neither appears in the logs', async () => {
    const before = t.logs().length;
    const response = await t.app.inject({
      method: 'GET',
      url: '/PhoneRecharges?phone_number=5511999999999',
      headers: { authorization: 'Bearer secret-token-123', 'x-request-id': 'logs-1' },
    });
    expect(response.statusCode).toBe(401);

    const lines = t.logs().slice(before);
    const written = lines.map((line) => JSON.stringify(line)).join('\n');
    expect(written).not.toContain('5511999999999');
    expect(written).not.toContain('secret-token-123');
    // One line per request, when it is answered, with what both of Fastify's lines used to carry.
    const requestLines = lines.filter((line) => 'req' in line || 'res' in line);
    expect(requestLines).toEqual([
      expect.objectContaining({
        msg: 'request completed',
        request_id: 'logs-1',
        req: expect.objectContaining({ method: 'GET', url: '/PhoneRecharges?phone_number=5511*****9999' }),
        res: { statusCode: 401 },
        responseTime: expect.any(Number),
      }),
    ]);
  });

  it('when the phone number is written with separators, then the logged URL still hides it', async () => {
    const before = t.logs().length;
    await t.app.inject({
      method: 'GET',
      url: '/PhoneRecharges?limit=5&phone_number=%2B55%2011%2099999-9999',
    });
    const written = t
      .logs()
      .slice(before)
      .map((line) => JSON.stringify(line))
      .join('\n');
    expect(written).not.toMatch(/99999.?9999/);
    expect(written).toContain('phone_number=5511*****9999');
  });
});

describe.each(databaseTargets)('readiness without a database on %s', (target) => {
  it('when the database is closed, then /readyz answers 503 unavailable with Retry-After', async () => {
    const { app, database } = await createTestApp(target);
    try {
      await database.close();
      const response = await app.inject({ method: 'GET', url: '/readyz' });
      expectProblem(response, 503, {
        code: 'unavailable',
        detail: 'the service is temporarily unavailable; retry later',
      });
      expect(response.headers['retry-after']).toBe('5');
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe.each(databaseTargets)('demo seed on %s', (target) => {
  it('when SEED_DEMO_DATA is on and the catalog is empty, then the demo catalogs are loaded', async () => {
    const t = await createTestApp(target, { SEED_DEMO_DATA: 'true' });
    try {
      const response = await t.app.inject({ method: 'GET', url: '/CompanyProducts' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual([claro, tim]);
      expect(t.logs()).toContainEqual(
        expect.objectContaining({ msg: 'demo catalog loaded', companies: ['claro_11', 'tim_11'] }),
      );
    } finally {
      await t.close();
    }
  });

  it('when the catalog already has a company, then the seed adds nothing', async () => {
    const first = await createTestApp(target);
    const vivo = { company_id: 'vivo_11', products: [{ id: 'vivo_15', value: 15 }] };
    try {
      expect((await postJson(first.app, '/CompanyProducts', vivo)).statusCode).toBe(201);
      await first.app.close();

      // A second app on the same database, as after a restart.
      const seeded = await createTestApp(first.database, { SEED_DEMO_DATA: 'true' });
      const response = await seeded.app.inject({ method: 'GET', url: '/CompanyProducts' });
      expect(response.json()).toEqual([vivo]);
      await seeded.close();
    } finally {
      await first.database.close();
    }
  });
});

describe('persistence in DATA_DIR', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'recharge-api-data-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('when the app restarts on the same DATA_DIR, then the catalogs written before are still there', async () => {
    const config = testConfig({ DATA_DIR: dataDir });
    const first = sendAdminKeyByDefault(await buildApp(config, { logStream: new PassThrough() }));
    expect((await postJson(first, '/CompanyProducts', claro)).statusCode).toBe(201);
    await first.close();

    const second = sendAdminKeyByDefault(await buildApp(config, { logStream: new PassThrough() }));
    try {
      const response = await second.inject({ method: 'GET', url: '/CompanyProducts' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual([claro]);
    } finally {
      await second.close();
    }
  });
});
