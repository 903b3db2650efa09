import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RechargeStatus } from '../db/database.js';
import type { DispatcherObserver } from '../modules/dispatcher/dispatcher.js';
import type { RechargeRecord } from '../modules/recharges/index.js';

export type Backlog = () => Promise<{ status: RechargeStatus; count: number; oldest_age_seconds: number }[]>;

/**
 * The lifecycle seen from outside (docs/api.md): moves between statuses, the unfinished backlog and the age
 * of its oldest recharge (read from the database at each scrape, so it counts every instance's work), and
 * carrier calls by outcome and duration, and retries.
 */
export function createLifecycleMetrics(registry: Registry, backlog: Backlog) {
  const moves = new Counter({
    name: 'recharge_status_changes_total',
    help: 'Recharges that entered a status, recorded by this instance',
    labelNames: ['status'],
    registers: [registry],
  });
  const calls = new Histogram({
    name: 'carrier_call_duration_seconds',
    help: 'Carrier calls made by this instance, by operation and outcome',
    labelNames: ['operation', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'carrier_retries_total',
    help: 'Top-ups scheduled to be sent again after a refused or unanswered attempt',
    registers: [registry],
  });
  let last: Awaited<ReturnType<Backlog>> = [];
  async function readBacklog() {
    try {
      last = await backlog();
    } catch {
      // The database is away: the gauges keep their last reading rather than failing the scrape.
    }
    return last;
  }
  const unfinished = ['pending', 'processing'] as const;
  new Gauge({
    name: 'recharges_unfinished',
    help: 'Recharges not yet final, by status (every instance)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const rows = await readBacklog();
      for (const status of unfinished)
        this.set({ status }, rows.find((row) => row.status === status)?.count ?? 0);
    },
  });
  new Gauge({
    name: 'recharges_oldest_unfinished_age_seconds',
    help: 'Time since the oldest unfinished recharge entered its status, by status (0: none)',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      // Read by the gauge above in the same scrape.
      for (const status of unfinished)
        this.set({ status }, last.find((row) => row.status === status)?.oldest_age_seconds ?? 0);
    },
  });

  const observer: DispatcherObserver = {
    claimed(recharge) {
      if (recharge.previous_status === 'pending') moves.inc({ status: 'processing' });
    },
    called(operation, outcome, seconds) {
      calls.observe({ operation, outcome: outcome.kind }, seconds);
    },
    retried() {
      retries.inc();
    },
  };
  return {
    observer,
    /** Counts the statuses recorded (a record that only rescheduled work is not a move). */
    recorded(recharges: RechargeRecord[]) {
      for (const recharge of recharges)
        if (recharge.status !== 'processing') moves.inc({ status: recharge.status });
    },
  };
}
