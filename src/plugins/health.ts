import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { unavailable } from '../shared/errors.js';
import { refuseOtherMethods } from '../shared/http.js';
import { success } from '../shared/openapi.js';

const Status = Type.Object({ status: Type.String() });

/** Liveness answers while the process runs; readiness asks the database. */
export const healthPlugin = fp(
  async (app: FastifyInstance, { isReady }: { isReady: () => Promise<boolean> }) => {
    app.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Liveness',
          operationId: 'checkLiveness',
          response: { 200: success(Status, 'The process runs') },
        },
      },
      async () => ({ status: 'ok' }),
    );
    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness: 200 when the database answers',
          operationId: 'checkReadiness',
          response: { 200: success(Status, 'The database answers') },
        },
      },
      async () => {
        if (!(await isReady())) throw unavailable();
        return { status: 'ready' };
      },
    );
    refuseOtherMethods(app, '/healthz', ['GET', 'HEAD']);
    refuseOtherMethods(app, '/readyz', ['GET', 'HEAD']);
  },
);
