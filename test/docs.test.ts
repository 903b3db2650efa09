import { describe, expect, it } from 'vitest';
import { claro, tim } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { exampleOf, operationsOf, servedDocument } from './helpers/openapi.js';

// The page, the assets it loads and the document it reads.
const PAGE_URLS = [
  '/docs',
  '/docs/',
  '/docs/static/swagger-ui-bundle.js',
  '/docs/static/swagger-initializer.js',
  '/docs/static/swagger-ui.css',
  '/docs/json',
];
const UPGRADE = 'upgrade-insecure-requests';
const overHttps = { 'x-forwarded-proto': 'https' };

describe.each(databaseTargets)('/docs over http and https on %s', (target) => {
  describe('behind no trusted proxy', () => {
    const t = useTestApp(target);

    it('when /docs is opened over plain http, then its policy lets the browser load its assets over http', async () => {
      for (const url of PAGE_URLS) {
        const response = await t().app.inject({ url, headers: { authorization: undefined } });
        expect(response.statusCode, url).toBe(200);
        const policy = String(response.headers['content-security-policy']);
        expect(policy, url).toMatch(/script-src 'self'/);
        expect(policy, url).not.toContain(UPGRADE);
      }
    });

    it('when X-Forwarded-Proto comes from an untrusted address, then it is not believed', async () => {
      const response = await t().app.inject({ url: '/docs', headers: overHttps });
      expect(String(response.headers['content-security-policy'])).not.toContain(UPGRADE);
    });

    it('when the page is read, then it loads only scripts of its own origin, which its policy allows', async () => {
      const page = await t().app.inject({ url: '/docs/' });
      const scripts = page.body.match(/<script\b[^>]*>/g) ?? [];
      expect(scripts.length).toBeGreaterThan(0);
      for (const script of scripts) expect(script).toMatch(/\bsrc="\.\/static\/[\w.-]+\.js"/);
    });
  });

  describe('behind a trusted proxy that ends https', () => {
    const t = useTestApp(target, { env: { TRUST_PROXY: '127.0.0.1' } });

    it('when /docs came over https, then its policy upgrades insecure requests', async () => {
      for (const url of PAGE_URLS) {
        const response = await t().app.inject({ url, headers: overHttps });
        expect(response.statusCode, url).toBe(200);
        expect(String(response.headers['content-security-policy']), url).toContain(UPGRADE);
      }
    });

    it('when /docs came over http through the proxy, then its policy does not', async () => {
      const response = await t().app.inject({ url: '/docs', headers: { 'x-forwarded-proto': 'http' } });
      expect(String(response.headers['content-security-policy'])).not.toContain(UPGRADE);
    });
  });
});

// Creating comes first, then reading, replacing and deleting what was created.
const ORDER = ['post', 'get', 'put', 'delete'];

describe.each(databaseTargets)('the examples of the document on %s', (target) => {
  const t = useTestApp(target, { env: { SEED_DEMO_DATA: 'true' } });

  it('when every operation is sent with its examples as they are, then each succeeds and the demo catalogs stay', async () => {
    const demo = (await t().app.inject('/CompanyProducts')).json();
    expect(demo).toEqual([claro, tim]);
    const doc = await servedDocument(t().app);
    const operations = operationsOf(doc).sort((a, b) => ORDER.indexOf(a.method) - ORDER.indexOf(b.method));
    // A required parameter without an example can only name what an earlier example made.
    const madeEarlier: Record<string, Record<string, string>> = {};

    for (const { path, method, operation } of operations) {
      const name = operation.operationId;
      const query = new URLSearchParams();
      const headers: Record<string, string> = {};
      for (const parameter of operation.parameters ?? []) {
        const value = parameter.example ?? madeEarlier[name]?.[parameter.name];
        if (value === undefined) {
          expect(parameter.required, `${name} ${parameter.name} has no example`).not.toBe(true);
          continue;
        }
        if (parameter.in === 'query') query.set(parameter.name, String(value));
        else headers[parameter.name] = String(value);
      }
      const media = operation.requestBody?.content['application/json'];
      const body = media ? (media.example ?? exampleOf(media.schema, doc)) : undefined;
      const response = await t().app.inject({
        method: method.toUpperCase() as 'GET',
        url: `${path}${query.size > 0 ? `?${query}` : ''}`,
        headers: { ...headers, ...(media ? { 'content-type': 'application/json' } : {}) },
        ...(media ? { payload: JSON.stringify(body) } : {}),
      });
      if (name === 'resendWebhookMessage') {
        // A fresh service has sent no message yet: the example is well formed, and names none.
        expect(response.statusCode, `${name}: ${response.body}`).toBe(404);
        continue;
      }
      expect(response.statusCode, `${name}: ${response.body}`).toBeGreaterThanOrEqual(200);
      expect(response.statusCode, `${name}: ${response.body}`).toBeLessThan(300);
      if (name === 'createApiKey') madeEarlier.revokeApiKey = { id: response.json().id };
      if (name === 'createWebhookEndpoint') {
        madeEarlier.replaceWebhookEndpoint = { id: response.json().id };
        madeEarlier.deleteWebhookEndpoint = { id: response.json().id };
        madeEarlier.resendWebhookMessage = { id: 'msg_0193c6f08a4e7c1d9b2f3e5a7d9c1b42' };
      }
    }
    expect(operations.length).toBeGreaterThanOrEqual(13);
    expect((await t().app.inject('/CompanyProducts')).json()).toEqual(demo);
  });
});
