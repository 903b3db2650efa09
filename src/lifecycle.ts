import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import {
  type Carrier,
  createHttpCarrier,
  createSandboxCarrier,
  type SandboxCarrier,
} from './modules/carrier/index.js';
import { createDispatcher, createDispatcherRepository, type Dispatcher } from './modules/dispatcher/index.js';
import {
  createOutcomeWaiters,
  createRechargeRepository,
  type OutcomeWaiters,
  type RechargeRecord,
} from './modules/recharges/index.js';
import { createLifecycleMetrics } from './plugins/lifecycle-metrics.js';
import type { Metrics } from './plugins/metrics.js';

/** The channel a recharge insert NOTIFYs when the inserting instance does not dispatch itself. */
export const DISPATCH_CHANNEL = 'recharge_dispatch';

export type Lifecycle = {
  carrier: Carrier;
  /** The sandbox carrier, whose books GET /SandboxCarrier/TopUps shows; undefined with another carrier. */
  sandbox: SandboxCarrier | undefined;
  /** Present where this process dispatches (DISPATCHER=on). */
  dispatcher: Dispatcher | undefined;
  waiters: OutcomeWaiters;
  /** What the recharge insert NOTIFYs, for dispatchers elsewhere; undefined when this one dispatches. */
  notifyChannel: string | undefined;
  /** A recharge was stored here: dispatch it now. */
  stored(): void;
  start(): void;
  /** Stops claiming and finishes the calls in flight. */
  stop(): Promise<void>;
  close(): Promise<void>;
};

/** The carrier, the dispatcher and the waiters of one process, wired together (SPEC §6). */
export function createLifecycle(
  config: Config,
  database: Database,
  log: FastifyBaseLogger,
  metrics: Pick<Metrics, 'registry'>,
): Lifecycle {
  const { db } = database;
  const sandbox = config.carrier.kind === 'sandbox' ? createSandboxCarrier(db) : undefined;
  const carrier =
    sandbox ??
    createHttpCarrier({
      url: config.carrier.url as string,
      timeoutMs: config.carrier.timeoutMs,
      maxConnections: config.carrier.maxConnections,
    });
  const waiters = createOutcomeWaiters({
    find: createRechargeRepository(db).findByIds,
  });
  const repository = createDispatcherRepository(db);
  const lifecycleMetrics = createLifecycleMetrics(metrics.registry, repository.backlog);
  const dispatcher = config.dispatcher.enabled
    ? createDispatcher({
        repository,
        carrier,
        log,
        policy: { maxAttempts: config.carrier.maxAttempts, retryBaseMs: config.carrier.retryBaseMs },
        callTimeoutMs: config.carrier.timeoutMs,
        batchSize: config.dispatcher.batchSize,
        concurrency: config.dispatcher.concurrency,
        pollMs: config.dispatcher.pollMs,
        observe: lifecycleMetrics.observer,
        onRecorded: (recharges: RechargeRecord[]) => {
          lifecycleMetrics.recorded(recharges);
          waiters.settle(recharges);
        },
      })
    : undefined;
  let listener: { close(): Promise<void> } | undefined;
  return {
    carrier,
    sandbox,
    dispatcher,
    waiters,
    notifyChannel: dispatcher || database.kind !== 'postgres' ? undefined : DISPATCH_CHANNEL,
    stored: () => dispatcher?.wake(),
    start() {
      if (!dispatcher) return;
      dispatcher.start();
      listener = database.listen(DISPATCH_CHANNEL, dispatcher.wake);
    },
    async stop() {
      await listener?.close();
      await dispatcher?.stop();
      waiters.close();
    },
    async close() {
      await carrier.close();
    },
  };
}
