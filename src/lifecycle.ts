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
import {
  createDeliveryEngine,
  createDeliveryRepository,
  createUrlGuard,
  type DeliveryEngine,
  type Resolver,
  type UrlGuard,
} from './modules/webhooks/index.js';
import { createLifecycleMetrics } from './plugins/lifecycle-metrics.js';
import type { Metrics } from './plugins/metrics.js';
import { createWebhookMetrics } from './plugins/webhook-metrics.js';

/** The channel a recharge insert NOTIFYs when the inserting instance does not dispatch itself. */
export const DISPATCH_CHANNEL = 'recharge_dispatch';

export type Lifecycle = {
  carrier: Carrier;
  /** The sandbox carrier, whose books GET /SandboxCarrier/TopUps shows; undefined with another carrier. */
  sandbox: SandboxCarrier | undefined;
  /** Present where this process dispatches (DISPATCHER=on). */
  dispatcher: Dispatcher | undefined;
  /** Delivers webhook messages; present where the dispatcher is. */
  delivery: DeliveryEngine | undefined;
  /** Which webhook URLs may be registered and called. */
  urlGuard: UrlGuard;
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

/** The carrier, the dispatcher and the waiters of one process, wired together (docs/api.md). */
// What a shutdown keeps of its deadline (SHUTDOWN_TIMEOUT_MS) for closing the pools and the server after the
// dispatcher and the delivery engine have stopped waiting for their calls.
const STOP_MARGIN_MS = 2000;

export function createLifecycle(
  config: Config,
  database: Database,
  log: FastifyBaseLogger,
  metrics: Pick<Metrics, 'registry'>,
  /** Resolves webhook hosts; tests inject one. */
  resolve?: Resolver,
): Lifecycle {
  const { db } = database;
  const urlGuard = createUrlGuard({
    requireHttps: config.webhooks.requireHttps,
    allowPrivate: config.webhooks.allowPrivateUrls,
    ...(resolve ? { resolve } : {}),
  });
  const webhookRepository = createDeliveryRepository(db);
  const webhookMetrics = createWebhookMetrics(metrics.registry, webhookRepository.backlog);
  const delivery = config.dispatcher.enabled
    ? createDeliveryEngine({
        repository: webhookRepository,
        observe: webhookMetrics.observe,
        guard: urlGuard,
        log,
        timeoutMs: config.webhooks.timeoutMs,
        retryScheduleMs: config.webhooks.retryScheduleMs,
        concurrency: config.webhooks.concurrency,
        perEndpoint: config.webhooks.perEndpoint,
        pollMs: Math.min(config.dispatcher.pollMs, 500),
      })
    : undefined;
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
          // A final status came with its messages: send them now.
          delivery?.wake();
        },
      })
    : undefined;
  let listener: { close(): Promise<void> } | undefined;
  return {
    carrier,
    sandbox,
    dispatcher,
    delivery,
    urlGuard,
    waiters,
    notifyChannel: dispatcher || database.kind !== 'postgres' ? undefined : DISPATCH_CHANNEL,
    stored: () => dispatcher?.wake(),
    start() {
      if (!dispatcher) return;
      dispatcher.start();
      delivery?.start();
      listener = database.listen(DISPATCH_CHANNEL, dispatcher.wake);
    },
    async stop() {
      await listener?.close();
      // Side by side, each for as long as the shutdown's deadline leaves room to close the pools after.
      const graceMs = Math.max(0, config.shutdownTimeoutMs - STOP_MARGIN_MS);
      const stopping = Promise.all([dispatcher?.stop(graceMs), delivery?.stop(graceMs)]);
      // Nothing changes on this instance once it stops claiming: waiting requests answer now, with the
      // recharge as it is, not after the slowest call in flight.
      waiters.close();
      await stopping;
    },
    async close() {
      await carrier.close();
      await delivery?.close();
    },
  };
}
