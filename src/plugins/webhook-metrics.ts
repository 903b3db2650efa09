import { Gauge, Histogram, type Registry } from 'prom-client';
import type { AttemptOutcome, DeliveryRepository } from '../modules/webhooks/index.js';

/**
 * Webhook delivery seen from outside: attempts by outcome and duration (this instance's), and the backlog of
 * pending messages with the wait of the oldest due one (read from the database at each scrape, so it counts
 * every instance's work).
 */
export function createWebhookMetrics(registry: Registry, backlog: DeliveryRepository['backlog']) {
  const attempts = new Histogram({
    name: 'webhook_attempt_duration_seconds',
    help: 'Webhook attempts made by this instance, by outcome (delivered, retry, failed, disabled)',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  let last = { pending: 0, due: 0, oldest_due_age_seconds: 0 };
  new Gauge({
    name: 'webhook_messages_pending',
    help: 'Webhook messages not yet delivered or failed (every instance); due: waiting for a slot now',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      try {
        last = await backlog();
      } catch {
        // The database is away: the gauges keep their last reading rather than failing the scrape.
      }
      this.set({ state: 'all' }, last.pending);
      this.set({ state: 'due' }, last.due);
    },
  });
  new Gauge({
    name: 'webhook_oldest_due_age_seconds',
    help: 'How long the oldest due webhook message has waited for an attempt (0: none)',
    registers: [registry],
    collect() {
      // Read by the gauge above in the same scrape.
      this.set(last.oldest_due_age_seconds);
    },
  });
  return {
    observe(outcome: AttemptOutcome, seconds: number) {
      const label = outcome.disableEndpoint
        ? 'disabled'
        : outcome.status === 'pending'
          ? 'retry'
          : outcome.status;
      attempts.observe({ outcome: label }, seconds);
    },
  };
}
