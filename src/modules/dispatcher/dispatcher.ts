import type { FastifyBaseLogger } from 'fastify';
import { createBatcher } from '../../shared/batcher.js';
import { drain } from '../../shared/drain.js';
import type { Carrier, SendOutcome, StatusOutcome } from '../carrier/carrier.port.js';
import type { RechargeRecord } from '../recharges/index.js';
import type { ClaimedRecharge, DispatcherRepository, Outcome } from './dispatcher.repository.js';
import { type Decision, decide, type RetryPolicy } from './lifecycle.js';
import { readReversalFeed } from './reversal-feed.js';

export type DispatcherOptions = {
  repository: DispatcherRepository;
  carrier: Carrier;
  log: FastifyBaseLogger;
  policy: RetryPolicy;
  /** Bounds one carrier call; a claim's lease is this plus a margin. */
  callTimeoutMs: number;
  batchSize: number;
  /** Carrier calls in flight at most. */
  concurrency: number;
  /** The safety net: how often to look for due work nobody woke this instance for. */
  pollMs: number;
  /** Told of every recharge whose status this instance recorded (waiters, webhooks, metrics). */
  onRecorded?: (recharges: RechargeRecord[]) => void;
  observe?: DispatcherObserver;
};

export type DispatcherObserver = {
  claimed(recharge: ClaimedRecharge): void;
  called(step: 'send' | 'query', outcome: SendOutcome | StatusOutcome, seconds: number): void;
  retried(): void;
};

const LEASE_MARGIN_MS = 5000;
const FEED_INTERVAL_MS = 1000;

/**
 * Sends due recharges to the carrier and records what came of them. It is woken in-process when a
 * recharge is stored here, by LISTEN/NOTIFY for other instances' recharges, by its own timer when a retry
 * it scheduled comes due, and by a slow poll for everything else (another instance's retries, the leases
 * of instances that died). Work is claimed and recorded in batches; every instance may run one.
 */
export function createDispatcher(options: DispatcherOptions) {
  const { repository, carrier, log, policy, callTimeoutMs, batchSize, concurrency } = options;
  const leaseMs = callTimeoutMs + LEASE_MARGIN_MS;
  let stopped = true;
  /** Set by stop(): a feed read in progress ends after the page it is applying. */
  let stopping = false;
  let inFlight = 0;
  let claiming = false;
  /** Set by a wake, cleared by a claim that found less than it asked for and began after the last wake. */
  let wanted = false;
  let wakes = 0;
  let pollTimer: NodeJS.Timeout | undefined;
  let dueTimer: NodeJS.Timeout | undefined;
  let dueAt = Number.POSITIVE_INFINITY;
  let feedTimer: NodeJS.Timeout | undefined;
  const running = new Set<Promise<void>>();

  const record = createBatcher<Outcome, RechargeRecord | undefined>(
    async (outcomes) => {
      const recorded = await repository.record(outcomes);
      if (recorded.length > 0) options.onRecorded?.(recorded);
      const byId = new Map(recorded.map((recharge) => [recharge.id, recharge]));
      return outcomes.map((outcome) => ({ status: 'fulfilled', value: byId.get(outcome.id) }));
    },
    { maxSize: 256, maxInFlight: 1 },
  );

  function track(promise: Promise<void>) {
    const settled = promise.catch((error: unknown) => log.error({ err: error }, 'dispatcher task failed'));
    running.add(settled);
    void settled.finally(() => running.delete(settled));
  }

  function pump() {
    if (stopped || claiming || !wanted) return;
    const room = Math.min(batchSize, concurrency - inFlight);
    if (room <= 0) return;
    claiming = true;
    track(claimAndRun(room));
  }

  async function claimAndRun(limit: number) {
    let claimed: ClaimedRecharge[] = [];
    const wakesBefore = wakes;
    try {
      claimed = await repository.claim(limit, leaseMs);
      // A wake during the claim may be for a row committed after its snapshot: it claims again.
      if (claimed.length < limit && wakes === wakesBefore) wanted = false;
    } catch (error) {
      // The database is away: the poll tries again, and nothing was claimed.
      wanted = false;
      log.warn({ err: error }, 'dispatcher could not claim work; the next poll tries again');
    } finally {
      claiming = false;
    }
    inFlight += claimed.length;
    for (const recharge of claimed) {
      options.observe?.claimed(recharge);
      track(
        handle(recharge).finally(() => {
          inFlight -= 1;
          pump();
        }),
      );
    }
    pump();
  }

  async function handle(recharge: ClaimedRecharge) {
    const started = performance.now();
    const outcome = await call(recharge);
    const seconds = (performance.now() - started) / 1000;
    options.observe?.called(recharge.step, outcome, seconds);
    const ageMs = Date.now() - recharge.created_at.getTime();
    const decision = decide(recharge.step, outcome, recharge.attempts, ageMs, policy);
    log.info(
      { recharge_id: recharge.id, step: recharge.step, attempts: recharge.attempts, outcome: outcome.kind },
      'carrier call',
    );
    if (decision.kind === 'later' && decision.step === 'send') options.observe?.retried();
    try {
      await record(outcomeOf(recharge, decision));
      if (decision.kind === 'later') scheduleAt(Date.now() + decision.delayMs);
    } catch (error) {
      // The lease runs out and another claim asks the carrier again: the outcome is recorded then.
      log.warn({ err: error, recharge_id: recharge.id }, 'carrier outcome not recorded; it is asked again');
    }
  }

  async function call(recharge: ClaimedRecharge): Promise<SendOutcome | StatusOutcome> {
    try {
      if (recharge.step === 'query') return await carrier.status(recharge.id);
      return await carrier.send({
        reference: recharge.id,
        phoneNumber: recharge.phone_number,
        valueCents: recharge.value_cents,
      });
    } catch (error) {
      // An adapter answers outcomes, but a fault inside one (the sandbox's database going away) may throw:
      // a send that threw may have been applied, so it is asked about, never simply sent again.
      log.warn({ err: error, recharge_id: recharge.id }, 'carrier call failed');
      return { kind: 'unknown' };
    }
  }

  /** Keeps one timer, for the earliest retry this instance scheduled. */
  function scheduleAt(at: number) {
    if (stopped || at >= dueAt) return;
    clearTimeout(dueTimer);
    dueAt = at;
    dueTimer = setTimeout(
      () => {
        dueAt = Number.POSITIVE_INFINITY;
        wake();
      },
      Math.max(0, at - Date.now()),
    );
    dueTimer.unref();
  }

  function wake() {
    wakes += 1;
    wanted = true;
    pump();
  }

  function readFeed() {
    return readReversalFeed({
      repository,
      carrier,
      log,
      onRecorded: options.onRecorded,
      isStopping: () => stopping,
    });
  }

  function scheduleFeed() {
    feedTimer = setTimeout(() => {
      track(readFeed().finally(() => !stopped && scheduleFeed()));
    }, FEED_INTERVAL_MS);
    feedTimer.unref();
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      stopping = false;
      pollTimer = setInterval(wake, options.pollMs);
      pollTimer.unref();
      scheduleFeed();
      wake();
    },
    /** Something was stored or came due: claim now rather than at the next poll. */
    wake,
    /**
     * Stops claiming and waits for the calls in flight and their records, for `graceMs` at most. A call
     * still running then is left to its lease: when it runs out, another instance asks the carrier for its
     * status, as after a crash, so nothing stays claimed and nothing is sent twice.
     */
    async stop(graceMs = Number.POSITIVE_INFINITY) {
      if (stopped) return;
      stopped = true;
      stopping = true;
      clearInterval(pollTimer);
      clearTimeout(dueTimer);
      clearTimeout(feedTimer);
      log.info({ in_flight: inFlight }, 'dispatcher stopped claiming; finishing the carrier calls in flight');
      if (!(await drain(running, graceMs))) {
        log.warn({ in_flight: inFlight }, 'carrier calls still in flight are left to their leases');
      }
    },
    /** Reads the reversal feed once. */
    readFeed,
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;

function outcomeOf(recharge: ClaimedRecharge, decision: Decision): Outcome {
  const base = { id: recharge.id, claims: recharge.claims };
  switch (decision.kind) {
    case 'completed':
      return { ...base, status: 'completed', failureCode: null, next: null };
    case 'failed':
      return { ...base, status: 'failed', failureCode: decision.failureCode, next: null };
    case 'later':
      return {
        ...base,
        status: 'processing',
        failureCode: null,
        next: { step: decision.step, delayMs: decision.delayMs },
      };
  }
}
