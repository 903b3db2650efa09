import { describe, expect, it } from 'vitest';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';

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
