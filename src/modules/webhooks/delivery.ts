import type { FastifyBaseLogger } from 'fastify';
import { Agent, request } from 'undici';
import { createBatcher } from '../../shared/batcher.js';
import { drain } from '../../shared/drain.js';
import { toApi } from '../recharges/index.js';
import type { AttemptOutcome, ClaimedMessage, DeliveryRepository } from './delivery.repository.js';
import { signatureHeader } from './signing.js';
import type { UrlGuard } from './url-guard.js';

export type DeliveryOptions = {
  repository: DeliveryRepository;
  guard: UrlGuard;
  log: FastifyBaseLogger;
  timeoutMs: number;
  /** The waits before the 2nd, 3rd, … attempt; after the last, a message that still fails is failed. */
  retryScheduleMs: number[];
  /** Attempts in flight in this process, in total and per endpoint. */
  concurrency: number;
  perEndpoint: number;
  pollMs: number;
  random?: () => number;
  /** Told of every attempt's outcome (metrics). */
  observe?: (outcome: AttemptOutcome, seconds: number) => void;
};

// A lease outlives one attempt by this much, so a slow answer is recorded before the message is due again.
const LEASE_MARGIN_MS = 5_000;
// What is read of a receiver's answer before the connection is given back: its status is all that counts.
const MAX_ANSWER_BYTES = 4_096;

/** The message body as a receiver gets it: the event, when it happened, and the recharge then. */
export function messageBody(message: Pick<ClaimedMessage, 'type' | 'created_at' | 'recharge'>): string {
  return JSON.stringify({
    type: message.type,
    timestamp: message.created_at.toISOString(),
    data: toApi(message.recharge),
  });
}

/**
 * Sends webhook messages and records what came of them (docs/webhooks.md). Messages are claimed in batches
 * from the shared table, so any number of instances deliver; within one, at most `concurrency` attempts run
 * at once and at most `perEndpoint` of one endpoint, so a receiver that hangs holds its own slots only and
 * never delays another client's messages.
 */
export function createDeliveryEngine(options: DeliveryOptions) {
  const { repository, guard, log, timeoutMs, retryScheduleMs, concurrency, perEndpoint, pollMs } = options;
  const random = options.random ?? Math.random;
  // Every connection goes to the address the guard approved for its host; redirects are never followed.
  const agent = new Agent({
    connect: { lookup: guard.lookup(), timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // Per origin; endpoints of different clients may share one, so only the engine's own limits bound it.
    connections: concurrency,
  });
  const inFlight = new Map<string, number>();
  let total = 0;
  let claiming = false;
  let wanted = false;
  let stopped = true;
  let pollTimer: NodeJS.Timeout | undefined;
  const running = new Set<Promise<void>>();

  const record = createBatcher<AttemptOutcome, undefined>(
    async (outcomes) => {
      await repository.record(outcomes);
      return outcomes.map(() => ({ status: 'fulfilled', value: undefined }));
    },
    { maxSize: 256, maxInFlight: 1 },
  );

  function wake() {
    wanted = true;
    if (!claiming) void pump();
  }

  async function pump() {
    if (stopped || claiming) return;
    claiming = true;
    try {
      while (wanted && !stopped) {
        wanted = false;
        const room = concurrency - total;
        if (room <= 0) break;
        const claimed = await repository.claim(room, timeoutMs + LEASE_MARGIN_MS, inFlight, perEndpoint);
        for (const message of claimed) start(message);
        // A full claim may have left more behind.
        if (claimed.length === room) wanted = true;
      }
    } catch (error) {
      log.warn({ err: error }, 'webhook messages not claimed; the next poll tries again');
    } finally {
      claiming = false;
    }
  }

  function start(message: ClaimedMessage) {
    total += 1;
    inFlight.set(message.endpoint_id, (inFlight.get(message.endpoint_id) ?? 0) + 1);
    const attempt = send(message)
      .then((outcome) => record(outcome))
      .catch((error: unknown) =>
        log.warn({ err: error, message_id: message.id }, 'webhook attempt not recorded'),
      )
      .finally(() => {
        total -= 1;
        const left = (inFlight.get(message.endpoint_id) ?? 1) - 1;
        if (left === 0) inFlight.delete(message.endpoint_id);
        else inFlight.set(message.endpoint_id, left);
        running.delete(attempt);
        wake();
      });
    running.add(attempt);
  }

  async function send(message: ClaimedMessage): Promise<AttemptOutcome> {
    const body = messageBody(message);
    const timestamp = Math.floor(Date.now() / 1000);
    const secrets = [message.secret, ...message.previous_secrets];
    let responseStatus: number | null = null;
    const started = performance.now();
    try {
      // The URL is checked again before every attempt; its host's addresses when the connection resolves it.
      const verdict = guard.precheck(message.url);
      if (!verdict.allowed) throw new Error(`webhook URL refused: ${verdict.reason}`);
      const response = await request(message.url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'recharge-api-webhooks',
          'webhook-id': message.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(message.id, timestamp, body, secrets),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      responseStatus = response.statusCode;
      await response.body.dump({ limit: MAX_ANSWER_BYTES });
    } catch (error) {
      log.info(
        { err: error, message_id: message.id, endpoint_id: message.endpoint_id },
        'webhook attempt failed',
      );
    }
    const outcome = outcomeOf(message, responseStatus);
    options.observe?.(outcome, (performance.now() - started) / 1000);
    return outcome;
  }

  function outcomeOf(message: ClaimedMessage, responseStatus: number | null): AttemptOutcome {
    const base = { id: message.id, attempts: message.attempts, responseStatus };
    if (responseStatus !== null && responseStatus >= 200 && responseStatus < 300) {
      return { ...base, status: 'delivered', retryInMs: null, disableEndpoint: false };
    }
    if (responseStatus === 410) return { ...base, status: 'failed', retryInMs: null, disableEndpoint: true };
    const delay = retryScheduleMs[message.attempts - 1];
    if (delay === undefined) return { ...base, status: 'failed', retryInMs: null, disableEndpoint: false };
    // ±10 %, so that messages that failed together (a receiver's outage) do not all come back together.
    const jittered = Math.round(delay * (0.9 + 0.2 * random()));
    return { ...base, status: 'pending', retryInMs: jittered, disableEndpoint: false };
  }

  return {
    /** There may be due messages: claim them now. */
    wake,
    start() {
      if (!stopped) return;
      stopped = false;
      pollTimer = setInterval(wake, pollMs);
      pollTimer.unref();
      wake();
    },
    /** Stops claiming and waits for the attempts in flight and their records. */
    /** Stops claiming and waits for the attempts in flight, for `graceMs` at most; the rest are leased. */
    async stop(graceMs = Number.POSITIVE_INFINITY) {
      stopped = true;
      if (pollTimer) clearInterval(pollTimer);
      if (!(await drain(running, graceMs))) {
        log.warn({ in_flight: total }, 'webhook attempts still in flight are left to their leases');
      }
    },
    async close() {
      // An attempt still open after stop() is left to its lease; it must not hold the shutdown.
      await agent.destroy();
    },
    /** Attempts in flight, for tests and metrics. */
    inFlight: () => total,
  };
}

export type DeliveryEngine = ReturnType<typeof createDeliveryEngine>;
