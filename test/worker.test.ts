import { describe, expect, it } from 'vitest';
import { createTestApp, postJson, rechargeBody } from './helpers/app.js';
import { withSearchPath } from './helpers/databases.js';
import { spawnScript } from './helpers/process.js';

// A worker and an API instance share a database only on a real PostgreSQL.
const targets = process.env.TEST_DATABASE_URL ? (['postgres'] as const) : [];

describe.each(targets)('npm run worker on %s', (target) => {
  it('dispatches what an API instance with DISPATCHER=off stores, answers probes, and stops on SIGTERM', async () => {
    const api = await createTestApp(target, { SEED_DEMO_DATA: 'true', DISPATCHER: 'off' });
    const { url, schema } = api.database;
    const worker = spawnScript('src/worker.ts', {
      NODE_ENV: 'test',
      PORT: '0',
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: withSearchPath(String(url), String(schema)),
    });
    try {
      await expect
        .poll(() => /listening at (http:\/\/[^"\s]+)/.exec(worker.output())?.[1], { timeout: 20_000 })
        .toBeDefined();
      const base = /listening at (http:\/\/[^"\s]+)/.exec(worker.output())?.[1] as string;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/PhoneRecharges`)).status).toBe(404);

      const response = await postJson(api.app, '/PhoneRecharges', rechargeBody, { prefer: 'wait=10' });
      expect(response.json()).toMatchObject({ status: 'completed' });
      expect(worker.output()).toContain(response.json().id);
      // What it dispatched is counted where a scraper can read it.
      const metricsPort = /"port":(\d+),"msg":"metrics listening on their own port"/.exec(
        worker.output(),
      )?.[1];
      expect(metricsPort).toBeDefined();
      const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(scraped).toMatch(/^recharge_status_changes_total\{status="completed"\} 1$/m);
      expect(scraped).toMatch(/^carrier_call_duration_seconds_count\{[^}]*outcome="credited"[^}]*\} 1$/m);
      // Its probes are counted, and logged as the API logs requests: one line each, the URL masked.
      expect(scraped).toMatch(/^http_requests_total\{method="GET",route="\/readyz",status_code="200"\} 1$/m);
      const requestLines = worker
        .output()
        .split('\n')
        .filter((line) => line.includes('"req":'));
      expect(requestLines.map((line) => JSON.parse(line).msg)).toEqual([
        'request completed',
        'request completed',
      ]);

      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(worker.output()).toContain('worker stopping');
      expect(worker.output()).toContain('"msg":"shutdown complete"');
    } finally {
      worker.child.kill('SIGKILL');
      await api.close();
    }
  }, 40_000);
});
