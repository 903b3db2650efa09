import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { methodNotAllowed } from './errors.js';
import { matchesIfNoneMatch } from './etag.js';

// The paths the API serves, with their Allow header, module-wide; an app instance that does not serve a
// path (the sandbox carrier's, with another carrier) is told apart by its own router.
const allowByPath = new Map<string, string>();

/** The Allow header of a path `app` serves (a trailing slash tolerated), or undefined for an unknown path. */
export function allowedMethodsOf(app: FastifyInstance, path: string): string | undefined {
  const url = path.length > 1 ? path.replace(/\/$/, '') : path;
  const allow = allowByPath.get(url);
  const method = allow?.split(', ')[0] as HTTPMethods | undefined;
  return method && app.hasRoute({ method, url }) ? allow : undefined;
}

/**
 * Answers 405 with `Allow` for every method the path does not serve, instead of Fastify's 404: in
 * onRequest, before the body is read, so a 405 comes before 400, 413 or 415 (docs/api.md). Methods Fastify
 * does not route at all (PROPFIND, …) reach the not-found handler, which asks allowedMethodsOf.
 */
export function refuseOtherMethods(app: FastifyInstance, url: string, allowed: HTTPMethods[]) {
  const allow = allowed.join(', ');
  allowByPath.set(url, allow);
  const others = app.supportedMethods.filter((method) => !allowed.includes(method as HTTPMethods));
  app.route({
    method: others,
    url,
    schema: { hide: true },
    config: { public: true },
    onRequest: async (request) => {
      throw methodNotAllowed(request.method, allow);
    },
    handler: async () => undefined,
  });
}

/** Sets the ETag and answers 304 when the client's copy is current; true when it did. */
export function replyNotModified(request: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  reply.header('etag', etag);
  if (!matchesIfNoneMatch(request.headers['if-none-match'], etag)) return false;
  reply.code(304).send();
  return true;
}
