import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { unavailable } from '../shared/errors.js';
import { createOverloadGuard, type OverloadOptions } from './overload.js';
import { createSecurityHeaders } from './security-headers.js';

/**
 * What every request passes first, in one `onRequest` hook rather than one each (each hook Fastify runs
 * costs every request, docs/performance.md), in this order:
 *
 * 1. the security headers and `X-Request-Id`, so every answer carries them, refusals included;
 * 2. while the server closes, a 503 with `Connection: close`, before the overload check: a request during
 *    shutdown gets the answer that also closes its connection;
 * 3. on an overloaded instance, a quick 503 before any work is done for the request.
 *
 * Register it before every other hook that sees requests.
 */
export const gatePlugin = fp(
  async (app: FastifyInstance, options: { overload: OverloadOptions }) => {
    const setSecurityHeaders = createSecurityHeaders();
    const shedIfOverloaded = await createOverloadGuard(app, options.overload);
    let isClosing = false;
    app.addHook('preClose', async () => {
      isClosing = true;
    });
    // A throw here is answered by Fastify as this request's error.
    app.addHook('onRequest', (request, reply, done) => {
      setSecurityHeaders(request, reply);
      if (isClosing) {
        reply.header('connection', 'close');
        throw unavailable();
      }
      shedIfOverloaded(request);
      done();
    });
  },
  { name: 'gate' },
);
