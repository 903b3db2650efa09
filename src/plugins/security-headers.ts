import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import { routeConfigOf } from '../shared/route.js';

/**
 * What every JSON response carries: the headers the OWASP REST Security Cheat Sheet lists for APIs. A JSON
 * body is read by programs, not rendered, so helmet's browser-page headers (referrer policy, DNS prefetch,
 * download options, origin agent cluster, legacy XSS filter, cross-domain policies, opener policy) would
 * protect nothing here, and each header line costs every response (docs/performance.md measures it).
 */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  // Responses carry keys and personal data (recharges, phone numbers, the audit trail): no browser or proxy
  // may keep them. A route that may be kept says so in its config (`cacheControl`), and every problem
  // answer says no-store again (errors.ts), whatever its route said.
  'cache-control': 'no-store',
  // Nothing in a response may load anything, and no page may frame it.
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/**
 * helmet's default headers, for the one HTML page (`/docs`): its middleware runs, as it is meant to, on the
 * page request's Node response. Pages are rare, so its per-request cost is of no concern; every other
 * response takes the frozen `API_HEADERS`. `overHttp` leaves out the policy's `upgrade-insecure-requests`:
 * on a page served over plain http (a development machine opened from another one) it turns every script
 * load into https, which fails and leaves the page blank.
 */
export function pageHeadersMiddleware({
  overHttp = false,
} = {}): (request: IncomingMessage, response: ServerResponse) => void {
  const middleware = helmet(
    overHttp ? { contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } } : undefined,
  );
  return (request, response) =>
    middleware(request, response, (error?: unknown) => {
      if (error !== undefined) throw error;
    });
}

const PAGE_PREFIX = '/docs';

/**
 * Sets the security headers (the API's, or helmet's on `/docs` and its assets) and `X-Request-Id`, so a
 * caller can quote the id its problem details and our logs use (docs/api.md: every response carries it).
 * The first step of every request (gate.ts). Whether the page came over https is `request.protocol`,
 * which reads X-Forwarded-Proto only from the proxies TRUST_PROXY names.
 */
export function createSecurityHeaders(): (request: FastifyRequest, reply: FastifyReply) => void {
  const pageHeaders = pageHeadersMiddleware();
  const pageHeadersOverHttp = pageHeadersMiddleware({ overHttp: true });
  // The API's headers with a route's own Cache-Control, built once per value rather than per request.
  const byCacheControl = new Map<string, Readonly<Record<string, string>>>();
  const apiHeadersWith = (cacheControl: string) => {
    let headers = byCacheControl.get(cacheControl);
    if (headers === undefined) {
      headers = Object.freeze({ ...API_HEADERS, 'cache-control': cacheControl });
      byCacheControl.set(cacheControl, headers);
    }
    return headers;
  };
  return (request, reply) => {
    const config = routeConfigOf(request);
    if (config.url?.startsWith(PAGE_PREFIX) === true) {
      (request.protocol === 'https' ? pageHeaders : pageHeadersOverHttp)(request.raw, reply.raw);
    } else {
      reply.headers(config.cacheControl === undefined ? API_HEADERS : apiHeadersWith(config.cacheControl));
    }
    reply.header('x-request-id', request.id);
  };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's Cache-Control in place of `no-store`, for responses without keys or personal data. */
    cacheControl?: string;
  }
}
