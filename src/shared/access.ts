import type { FastifyRequest } from 'fastify';

export const SCOPES = [
  'catalog:read',
  'catalog:write',
  'recharges:read',
  'recharges:write',
  'accounts:read',
  'webhooks:read',
  'webhooks:write',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: the API key's id, the client (tenant) it acts for, and what it may do. */
export type Principal = {
  keyId: string;
  client: string;
  scopes: readonly Scope[];
};

export function isAdmin(principal: Principal): boolean {
  return principal.scopes.includes('admin');
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return isAdmin(principal) || principal.scopes.includes(scope);
}

/** Whose recharges a caller may see: one client's, or, for admin keys, every client's (null). */
export function visibleClient(principal: Principal): string | null {
  return isAdmin(principal) ? null : principal.client;
}

/** The caller, which the auth hook has set on every route with a scope. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal)
    throw new Error(`no principal on ${request.method} ${request.url}: is the route public?`);
  return request.principal;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route that needs a key. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; a route without one must say `public: true`. */
    scope?: Scope;
    public?: boolean;
  }
}
