import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { PoolStats } from '../db/database.js';
import { refuseOtherMethods } from '../shared/http.js';
import { routeConfigOf } from '../shared/route.js';
import { createRequestSeries } from './request-metrics.js';

/** What a cache reports so /metrics can show its hit ratio; the catalog cache is handed one. */
export type CacheMetrics = { hit(): void; miss(): void };

export type Metrics = {
  registry: Registry;
  catalogCache: CacheMetrics;
  /** Counts an answered request (the request log's hook calls it, so that one hook does both). */
  observeResponse(request: FastifyRequest, reply: FastifyReply): void;
  /** The problem code of a refused recharge, read from its body before it is sent (metricsPlugin). */
  refusalCodes: WeakMap<FastifyRequest, string>;
};

export type MetricsOptions = {
  /** The pg pool's use, read at each scrape; null (PGlite) leaves the pool gauges out. */
  poolStats?: () => PoolStats | null;
};

/** One registry per app, so several apps in one process (the tests) never share or clash on counters. */
export function createMetrics({ poolStats }: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Plain counts, moved into the Counter when scraped: a prom-client Counter validates on every increment.
  // Both series exist from the first scrape on, so a hit ratio is defined before the first miss.
  const cacheLookups = { hit: 0, miss: 0 };
  new Counter({
    name: 'catalog_cache_requests_total',
    help: 'Catalog cache lookups, by result',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.inc({ result: 'hit' }, cacheLookups.hit);
      this.inc({ result: 'miss' }, cacheLookups.miss);
      cacheLookups.hit = 0;
      cacheLookups.miss = 0;
    },
  });
  if (poolStats?.()) {
    const pool = (name: string, help: string, read: (stats: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const stats = poolStats();
          if (stats) this.set(read(stats));
        },
      });
    pool('db_pool_connections', 'PostgreSQL connections open in the pool', (stats) => stats.total);
    pool('db_pool_idle_connections', 'Open PostgreSQL connections not in use', (stats) => stats.idle);
    pool('db_pool_waiting_requests', 'Queries waiting for a free connection', (stats) => stats.waiting);
  }
  const requests = createRequestSeries(registry);
  const made = new Counter({
    name: 'recharges_made_total',
    help: 'Recharges created (201, not an idempotent replay)',
    registers: [registry],
  });
  const replayed = new Counter({
    name: 'recharges_replayed_total',
    help: 'Recharge requests answered from an Idempotency-Key without creating anything',
    registers: [registry],
  });
  const refused = new Counter({
    name: 'recharges_refused_total',
    help: 'Recharge requests refused, by the problem code of the answer',
    labelNames: ['code'],
    registers: [registry],
  });
  const refusalCodes = new WeakMap<FastifyRequest, string>();

  function observeResponse(request: FastifyRequest, reply: FastifyReply): void {
    // Unmatched URLs share one label, so probing random paths cannot grow the series without bound.
    const config = routeConfigOf(request);
    const route = config.url ?? 'unmatched';
    requests.observe(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    if (!config.sellsCredit) return;
    if (reply.statusCode === 201) {
      (reply.getHeader('idempotent-replayed') === 'true' ? replayed : made).inc();
    } else if (reply.statusCode >= 400) {
      refused.inc({ code: refusalCodes.get(request) ?? String(reply.statusCode) });
    }
  }

  return {
    registry,
    catalogCache: {
      hit: () => {
        cacheLookups.hit += 1;
      },
      miss: () => {
        cacheLookups.miss += 1;
      },
    },
    observeResponse,
    refusalCodes,
  };
}

export type MetricsPluginOptions = {
  metrics: Metrics;
  /** Also serve /metrics, without a key, on this port (0: any free one); the main port keeps it admin-only. */
  port?: number | undefined;
  host?: string;
};

/** GET /metrics in Prometheus' text format, and the refusal codes of recharges for `observeResponse`. */
export const metricsPlugin = fp(async (app: FastifyInstance, options: MetricsPluginOptions) => {
  const { registry, refusalCodes } = options.metrics;

  // The problem's `code` is only in the body the error handler wrote; read it before it is sent. A hook of
  // the recharge route alone, so no other request pays for it.
  app.addHook('onRoute', (route) => {
    if (!route.config?.sellsCredit) return;
    route.onSend = [
      ...[route.onSend ?? []].flat(),
      async (request, reply, payload) => {
        if (reply.statusCode >= 400 && typeof payload === 'string') {
          refusalCodes.set(request, problemCode(payload) ?? String(reply.statusCode));
        }
        return payload;
      },
    ];
  });

  app.get(
    '/metrics',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (admin; or without a key on METRICS_PORT)',
        operationId: 'getMetrics',
        response: {
          200: {
            description: 'The Prometheus text exposition format',
            content: { 'text/plain': { schema: Type.String() } },
          },
        },
      },
    },
    async (_request, reply) => sendMetrics(registry, reply),
  );
  refuseOtherMethods(app, '/metrics', ['GET', 'HEAD']);

  if (options.port !== undefined) serveMetricsPort(app, registry, options.port, options.host);
});

/**
 * Serves /metrics, without a key, on a port of its own while `app` runs: the API's METRICS_PORT, and the
 * worker's, whose dispatcher and delivery metrics would otherwise be seen by no scraper.
 */
export function serveMetricsPort(
  app: FastifyInstance,
  registry: Registry,
  port: number,
  host?: string,
): void {
  const server = createMetricsServer(registry);
  app.addHook('onReady', async () => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const { address, port: bound } = server.address() as AddressInfo;
    app.log.info({ address, port: bound }, 'metrics listening on their own port');
  });
  app.addHook('onClose', async () => {
    if (!server.listening) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
}

async function sendMetrics(registry: Registry, reply: FastifyReply) {
  return reply.type(registry.contentType).send(await registry.metrics());
}

function problemCode(payload: string): string | undefined {
  try {
    const code = (JSON.parse(payload) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The metrics port: GET /metrics and nothing else, for a scraper inside the network or the pod. */
function createMetricsServer(registry: Registry): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
}
