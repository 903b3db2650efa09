import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { methodNotAllowed } from './errors.js';
import { matchesIfNoneMatch } from './etag.js';

/** Answers 405 with `Allow` for every method the path does not serve, instead of Fastify's 404. */
export function refuseOtherMethods(app: FastifyInstance, url: string, allowed: HTTPMethods[]) {
  const allow = allowed.join(', ');
  const others = app.supportedMethods.filter((method) => !allowed.includes(method as HTTPMethods));
  app.route({
    method: others,
    url,
    schema: { hide: true },
    config: { public: true },
    handler: async (request) => {
      throw methodNotAllowed(request.method, allow);
    },
  });
}

/** Sets the ETag and answers 304 when the client's copy is current; true when it did. */
export function replyNotModified(request: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  reply.header('etag', etag);
  if (!matchesIfNoneMatch(request.headers['if-none-match'], etag)) return false;
  reply.code(304).send();
  return true;
}
