import type { FastifyInstance } from 'fastify';
import type { RechargeService } from './recharges.service.js';

const PURGE_INTERVAL_MS = 3_600_000;

/** Hourly, every instance forgets idempotency keys past their retention; overlapping deletes are harmless. */
export function scheduleIdempotencyPurge(
  app: FastifyInstance,
  recharges: RechargeService,
  retentionMs: number,
) {
  const timer = setInterval(() => {
    recharges
      .purgeIdempotencyKeys(retentionMs)
      .then((purged) => app.log.info({ purged }, 'expired idempotency keys purged'))
      .catch((error: unknown) =>
        app.log.warn({ err: error }, 'idempotency key purge failed; next hour again'),
      );
  }, PURGE_INTERVAL_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}
