import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** CORS for the origins CORS_ORIGINS lists: the headers a browser client sends and must be able to read. */
export const corsPlugin = fp(async (app: FastifyInstance, { origins }: { origins: string[] }) => {
  await app.register(cors, {
    origin: origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: [
      'authorization',
      'content-type',
      'idempotency-key',
      'if-match',
      'if-none-match',
      'prefer',
      'x-request-id',
    ],
    exposedHeaders: [
      'etag',
      'link',
      'location',
      'retry-after',
      'x-request-id',
      'idempotent-replayed',
      'preference-applied',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
    ],
    maxAge: 600,
  });
});
