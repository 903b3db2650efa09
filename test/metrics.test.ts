import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, metricsPlugin } from '../src/plugins/metrics.js';
import { requestLogPlugin } from '../src/plugins/request-log.js';
import { ProblemSchema } from '../src/shared/schemas.js';
import { claro, createKey, createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
// Counting needs every request answered: a stall of the shared machine must not make the guard shed one.
const NO_SHEDDING = { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' };

/** The value of one series in Prometheus' text format, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(app: FastifyInstance): Promise<string> {
  const response = await app.inject({ url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toBe(PROMETHEUS_TEXT);
  return response.body;
}

describe.each(databaseTargets)('/metrics on %s', (target) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(target, NO_SHEDDING);
    expect((await postJson(t.app, '/CompanyProducts', claro)).statusCode).toBe(201);
  });
  afterAll(() => t.close());

  it('when an admin reads it, then requests are counted and timed by method, route and status', async () => {
    await t.app.inject({ url: '/CompanyProducts' });
    await t.app.inject({ url: '/CompanyProducts?company_id=nope' });
    await t.app.inject({ url: '/no/such/path/12345' });
    const text = await scrape(t.app);
    expect(sample(text, 'http_requests_total{method="GET",route="/CompanyProducts",status_code="200"}')).toBe(
      1,
    );
    expect(sample(text, 'http_requests_total{method="GET",route="/CompanyProducts",status_code="404"}')).toBe(
      1,
    );
    // Unknown paths share one label instead of one series each.
    expect(sample(text, 'http_requests_total{method="GET",route="unmatched",status_code="404"}')).toBe(1);
    expect(text).not.toContain('12345');
    expect(
      sample(
        text,
        'http_request_duration_seconds_count{method="GET",route="/CompanyProducts",status_code="200"}',
      ),
    ).toBe(1);
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('when recharges are made, replayed and refused, then each outcome is counted, refusals by code', async () => {
    const post = (body: object, headers: Record<string, string> = {}) =>
      postJson(t.app, '/PhoneRecharges', body, headers);
    expect((await post(rechargeBody)).statusCode).toBe(201);
    const keyed = { 'idempotency-key': 'metrics-replay' };
    expect((await post(rechargeBody, keyed)).statusCode).toBe(201);
    expect((await post(rechargeBody, keyed)).headers['idempotent-replayed']).toBe('true');
    expect((await post({ ...rechargeBody, company_id: 'vivo_11' })).statusCode).toBe(422);
    expect((await post({ ...rechargeBody, value: 20 })).statusCode).toBe(422);
    expect((await post({ ...rechargeBody, value: 30 })).statusCode).toBe(422);
    expect((await post({ ...rechargeBody, phone_number: '123' })).statusCode).toBe(400);
    expect((await post(rechargeBody, { authorization: 'Bearer wrong' })).statusCode).toBe(401);

    const text = await scrape(t.app);
    expect(sample(text, 'recharges_made_total')).toBe(2);
    expect(sample(text, 'recharges_replayed_total')).toBe(1);
    expect(sample(text, 'recharges_refused_total{code="unknown_company"}')).toBe(1);
    expect(sample(text, 'recharges_refused_total{code="value_mismatch"}')).toBe(2);
    expect(sample(text, 'recharges_refused_total{code="invalid_request"}')).toBe(1);
    expect(sample(text, 'recharges_refused_total{code="unauthenticated"}')).toBe(1);
  });

  it('when a catalog is read twice, then the catalog cache counts both lookups, the second a hit', async () => {
    const before = await scrape(t.app);
    const hit = 'catalog_cache_requests_total{result="hit"}';
    const miss = 'catalog_cache_requests_total{result="miss"}';
    for (let read = 0; read < 2; read++) {
      expect((await t.app.inject({ url: '/CompanyProducts?company_id=claro_11' })).statusCode).toBe(200);
    }
    const after = await scrape(t.app);
    const delta = (series: string) => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
    expect(delta(hit) + delta(miss)).toBe(2);
    expect(delta(hit)).toBeGreaterThanOrEqual(1);
  });

  it('shows the catalog cache counters, and the pool gauges only where there is a pool', async () => {
    const text = await scrape(t.app);
    expect(sample(text, 'catalog_cache_requests_total{result="hit"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'catalog_cache_requests_total{result="miss"}')).toBeGreaterThanOrEqual(0);
    if (target === 'postgres') {
      expect(sample(text, 'db_pool_connections')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'db_pool_idle_connections')).toBeGreaterThanOrEqual(0);
      expect(sample(text, 'db_pool_waiting_requests')).toBe(0);
    } else {
      expect(text).not.toContain('db_pool_');
    }
  });

  it('when the caller has no key, or a key without admin, then 401 or 403 and no metrics', async () => {
    const anonymous = await t.app.inject({ url: '/metrics', headers: { authorization: undefined } });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    const reader = await createKey(t.app, {
      name: 'metrics-reader',
      scopes: ['catalog:read', 'recharges:read'],
    });
    const forbidden = await t.app.inject({ url: '/metrics', headers: reader.headers });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toMatchObject({ status: 403, code: 'forbidden' });
    expect(forbidden.body).not.toContain('http_requests_total');
  });

  it('when another method is used, then 405 with Allow', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/metrics',
      headers: { authorization: undefined },
    });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD');
  });
});

describe('METRICS_PORT', () => {
  it('when it is set, then that port serves /metrics without a key, and nothing else; closing the app closes it', async () => {
    const t = await createTestApp('pglite', { ...NO_SHEDDING, METRICS_PORT: '0', HOST: '127.0.0.1' });
    let port: number | undefined;
    try {
      const line = t.logs().find((entry) => entry.msg === 'metrics listening on their own port');
      port = Number(line?.port);
      expect(port).toBeGreaterThan(0);
      await t.app.inject({ url: '/healthz' });
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toBe(PROMETHEUS_TEXT);
      const text = await metrics.text();
      expect(sample(text, 'http_requests_total{method="GET",route="/healthz",status_code="200"}')).toBe(1);
      expect((await fetch(`http://127.0.0.1:${port}/CompanyProducts`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(404);
      // The main port still wants an admin key.
      const main = await t.app.inject({ url: '/metrics', headers: { authorization: undefined } });
      expect(main.statusCode).toBe(401);
    } finally {
      await t.close();
    }
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('when the port is taken, then the app does not start', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = squatter.address() as AddressInfo;
      await expect(
        createTestApp('pglite', { METRICS_PORT: String(port), HOST: '127.0.0.1' }),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      squatter.close();
    }
  });
});

describe('createMetrics', () => {
  it('when the catalog cache reports hits and misses, then the counter shows them by result', async () => {
    const metrics = createMetrics();
    metrics.catalogCache.hit();
    metrics.catalogCache.hit();
    metrics.catalogCache.miss();
    const text = await metrics.registry.metrics();
    expect(sample(text, 'catalog_cache_requests_total{result="hit"}')).toBe(2);
    expect(sample(text, 'catalog_cache_requests_total{result="miss"}')).toBe(1);
  });

  it('reads the pool at each scrape', async () => {
    let stats = { total: 3, idle: 1, waiting: 0 };
    const metrics = createMetrics({ poolStats: () => stats });
    expect(sample(await metrics.registry.metrics(), 'db_pool_connections')).toBe(3);
    stats = { total: 10, idle: 0, waiting: 4 };
    const text = await metrics.registry.metrics();
    expect(sample(text, 'db_pool_connections')).toBe(10);
    expect(sample(text, 'db_pool_idle_connections')).toBe(0);
    expect(sample(text, 'db_pool_waiting_requests')).toBe(4);
  });
});

describe('the refusal-code hook of the recharge route', () => {
  it('when the route has onSend hooks of its own, then they still run beside it', async () => {
    const app = Fastify();
    app.addSchema(ProblemSchema); // /metrics documents its problem answers with it
    const metrics = createMetrics();
    // As the app wires them: the request-log hook counts each answered request.
    await app.register(requestLogPlugin, { observe: metrics.observeResponse });
    await app.register(metricsPlugin, { metrics });
    app.post(
      '/PhoneRecharges',
      {
        config: { scope: 'recharges:write', sellsCredit: true },
        onSend: async (_request, reply, payload) => {
          reply.header('x-own-hook', 'ran');
          return payload;
        },
      },
      async (_request, reply) =>
        reply.code(409).type('application/json').send('{"code":"idempotency_key_in_flight"}'),
    );
    const response = await app.inject({ method: 'POST', url: '/PhoneRecharges' });
    expect(response.statusCode).toBe(409);
    expect(response.headers['x-own-hook']).toBe('ran');
    const text = await metrics.registry.metrics();
    expect(sample(text, 'recharges_refused_total{code="idempotency_key_in_flight"}')).toBe(1);
    await app.close();
  });
});
