import type { FastifyInstance } from 'fastify';

/** Anything that keeps idempotency keys: recharges, ledger entries. */
export type KeyKeeper = { purgeIdempotencyKeys(retentionMs: number): Promise<number> };

const PURGE_INTERVAL_MS = 3_600_000;

/** Hourly, every instance forgets idempotency keys past their retention; overlapping deletes are harmless. */
export function scheduleIdempotencyPurge(app: FastifyInstance, keepers: KeyKeeper[], retentionMs: number) {
  const timer = setInterval(() => {
    Promise.all(keepers.map((keeper) => keeper.purgeIdempotencyKeys(retentionMs)))
      .then((counts) => counts.reduce((sum, count) => sum + count, 0))
      .then((purged) => app.log.info({ purged }, 'expired idempotency keys purged'))
      .catch((error: unknown) =>
        app.log.warn({ err: error }, 'idempotency key purge failed; next hour again'),
      );
  }, PURGE_INTERVAL_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}
