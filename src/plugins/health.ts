import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { unavailable } from '../shared/errors.js';
import { refuseOtherMethods } from '../shared/http.js';
import { success } from '../shared/openapi.js';

const Status = Type.Object({ status: Type.String() });

/**
 * Liveness answers while the process runs; readiness asks the database. The probes are not rate-limited
 * (route.ts, `probe`), so however many /readyz come at once, they share one question to the database: it
 * holds at most one connection for them, and each answer is as fresh as a probe's own.
 */
export const healthPlugin = fp(
  async (app: FastifyInstance, { isReady }: { isReady: () => Promise<boolean> }) => {
    let asking: Promise<boolean> | undefined;
    const readiness = () => {
      asking ??= isReady().finally(() => {
        asking = undefined;
      });
      return asking;
    };
    app.get(
      '/healthz',
      {
        config: { probe: true },
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
        config: { probe: true },
        schema: {
          tags: ['operations'],
          summary: 'Readiness: 200 when the database answers',
          operationId: 'checkReadiness',
          response: { 200: success(Status, 'The database answers') },
        },
      },
      async () => {
        if (!(await readiness())) throw unavailable();
        return { status: 'ready' };
      },
    );
    refuseOtherMethods(app, '/healthz', ['GET', 'HEAD']);
    refuseOtherMethods(app, '/readyz', ['GET', 'HEAD']);
  },
);
