import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasScope, type Principal } from '../shared/access.js';
import { forbidden, keyInQueryString, unauthenticated } from '../shared/errors.js';
import { isSecretParameter } from '../shared/log-url.js';
import { routeConfigOf } from '../shared/route.js';
import { andThen, type MaybePromise, settle } from '../shared/sync-first.js';

// Served without a key (docs/api.md); everything else must declare the scope it needs.
const PUBLIC_PATHS = ['/healthz', '/readyz', '/openapi.json', '/docs'];
const BEARER = /^Bearer +([\x21-\x7e]{1,512}) *$/i;
export const SECURITY_SCHEME = 'apiKey';

/** Work of the same hook as the key check, before or after it (rate limits, in docs/api.md's order). */
export type AuthStep = (request: FastifyRequest, reply: FastifyReply) => MaybePromise<void>;

export type AuthOptions = {
  authenticate(token: string): MaybePromise<Principal | null>;
  /**
   * Called before the 401 of a presented key that is wrong (not of a missing one), e.g. to count it; may
   * throw a refusal of its own instead (the lockout's 429).
   */
  onFailure?(request: FastifyRequest, token: string): MaybePromise<void>;
  /** Runs first, on every request (public routes too); its throw ends the request. */
  beforeAuth?: AuthStep;
  /** Runs once the key is accepted, and on public routes (which take none); not after a 401 or 403. */
  afterAuth?: AuthStep;
};

/**
 * Scopes are declared per route (`config.scope`) and enforced in this one hook, after routing (404, 405)
 * and before the body is parsed or validated (400, 413, 415), the order docs/api.md gives.
 */
export const authPlugin = fp(async (app: FastifyInstance, options: AuthOptions) => {
  const { authenticate, onFailure, beforeAuth, afterAuth } = options;
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope;
    // The OpenAPI document shows each operation's scope beside the bearer scheme, and in a field tools
    // read: a bearer scheme cannot declare scopes.
    if (scope) {
      const security = [{ [SECURITY_SCHEME]: [scope] }];
      route.schema = { ...route.schema, security, 'x-required-scopes': [scope] };
    }
    if (scope || route.config?.public) return;
    if (PUBLIC_PATHS.some((path) => route.url === path || route.url.startsWith(`${path}/`))) {
      route.config = { ...route.config, public: true };
      // Documented as needing no key, rather than saying nothing.
      if (route.schema && !route.schema.hide) route.schema = { ...route.schema, security: [] };
      return;
    }
    // Fail closed: a route that forgot to declare its scope does not start.
    throw new Error(
      `route ${String(route.method)} ${route.url} declares neither config.scope nor config.public`,
    );
  });

  // Declared up front, so setting it per request does not change the shape of Fastify's request objects.
  app.decorateRequest('principal', undefined);
  // One hook for the three steps: each hook Fastify runs costs every request (docs/performance.md). It is
  // synchronous when the key is known and the counters in memory: no promise per request (sync-first.ts).
  app.addHook('onRequest', (request, reply, done) => {
    if (routeConfigOf(request).probe) return done();
    settle(
      andThen(beforeAuth?.(request, reply), () => andThen(check(request), () => afterAuth?.(request, reply))),
      done,
    );
  });

  function check(request: FastifyRequest): MaybePromise<void> {
    // No scope: a public route, or no route at all (404 comes before 401).
    const scope = routeConfigOf(request).scope;
    if (!scope) return;
    if (Object.keys(request.query as object).some(isSecretParameter)) throw keyInQueryString();
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (token === undefined) throw unauthenticated();
    return andThen(authenticate(token), (principal) => {
      if (!principal) return refuse(request, token);
      request.principal = principal;
      if (!hasScope(principal, scope)) throw forbidden(scope);
    });
  }

  function refuse(request: FastifyRequest, token: string): MaybePromise<void> {
    return andThen(onFailure?.(request, token), () => {
      throw unauthenticated();
    });
  }
});
