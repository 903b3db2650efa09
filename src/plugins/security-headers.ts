import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
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
 * helmet's default headers, for the one HTML page (`/docs`). They are worked out once, by running helmet's
 * middleware on a Node response that is never sent, and read back with `getHeaders()`, instead of per
 * request as `@fastify/helmet` does. `overHttp` leaves out the policy's `upgrade-insecure-requests`: on a
 * page served over plain http (a development machine opened from another one) it turns every script load
 * into https, which fails and leaves the page blank.
 */
export function helmetHeaders({ overHttp = false } = {}): Readonly<Record<string, string>> {
  const request = new IncomingMessage(new Socket());
  const response = new ServerResponse(request);
  let isDone = false;
  const options = overHttp
    ? { contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }
    : undefined;
  helmet(options)(request, response, () => {
    isDone = true;
  });
  const headers = Object.fromEntries(
    Object.entries(response.getHeaders()).map(([name, value]) => [name, String(value)]),
  );
  // helmet answers synchronously today; a version that did not would leave these headers unset.
  if (!isDone || Object.keys(headers).length === 0) throw new Error('helmet did not set its headers');
  return Object.freeze(headers);
}

const PAGE_PREFIX = '/docs';

/**
 * Sets the security headers (the API's, or helmet's on `/docs` and its assets) and `X-Request-Id`, so a
 * caller can quote the id its problem details and our logs use (docs/api.md: every response carries it).
 * The first step of every request (gate.ts). Whether the page came over https is `request.protocol`,
 * which reads X-Forwarded-Proto only from the proxies TRUST_PROXY names.
 */
export function createSecurityHeaders(): (request: FastifyRequest, reply: FastifyReply) => void {
  const pageHeaders = helmetHeaders();
  const pageHeadersOverHttp = helmetHeaders({ overHttp: true });
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
      reply.headers(request.protocol === 'https' ? pageHeaders : pageHeadersOverHttp);
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
