import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route sells credit (a recharge): cross-cutting plugins treat it apart without knowing its URL. Its
     * client's recharge budget applies (rate-limit.ts) and /metrics counts its outcomes (metrics.ts).
     */
    sellsCredit?: boolean;
    /**
     * A platform's probe (/healthz, /readyz): never rate-limited, since a 429 would get a healthy instance
     * restarted or taken out of rotation. What it costs is bounded by the route itself (health.ts).
     */
    probe?: boolean;
  }
}

type RouteConfig = FastifyRequest['routeOptions']['config'];

const CONFIG = Symbol('route config');

/**
 * The matched route's config (its url, method and our `scope` or `public`). Fastify builds a new
 * `request.routeOptions` object on every read; four hooks ask for it on every request, so it is read once per
 * request and kept on the request.
 */
export function routeConfigOf(request: FastifyRequest): RouteConfig {
  const memo = request as FastifyRequest & { [CONFIG]?: RouteConfig };
  let config = memo[CONFIG];
  if (config === undefined) {
    config = request.routeOptions.config;
    memo[CONFIG] = config;
  }
  return config;
}
