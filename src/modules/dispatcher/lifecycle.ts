import type { FailureCode } from '../../db/database.js';
import type { SendOutcome, StatusOutcome } from '../carrier/carrier.port.js';

/** What the dispatcher was doing with a recharge: sending it, or asking the carrier what became of it. */
export type Step = 'send' | 'query';

export type RetryPolicy = { maxAttempts: number; retryBaseMs: number };

/** What to record after one carrier call. */
export type Decision =
  | { kind: 'completed' }
  | { kind: 'failed'; failureCode: Exclude<FailureCode, 'carrier_reversed'> }
  /** Not final: do `step` again after `delayMs`. */
  | { kind: 'later'; step: Step; delayMs: number };

/** The longest wait between two status queries of a recharge whose outcome the carrier does not know yet. */
const MAX_QUERY_DELAY_MS = 60_000;

/**
 * The lifecycle's rules (docs/api.md), apart from any I/O so that a model test can drive them. `attempts` is
 * the number of sends made so far, this one included. The one rule that prevents a double credit: after
 * an answer that may hide a credit (unknown, in progress), the next step is always a status query, and a
 * re-send follows only the carrier's "no record of it".
 */
export function decide(
  step: Step,
  outcome: SendOutcome | StatusOutcome,
  attempts: number,
  ageMs: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): Decision {
  switch (outcome.kind) {
    case 'credited':
    // Reversed before it was recorded as completed: completed now, and the reversal feed undoes it.
    case 'reversed':
      return { kind: 'completed' };
    case 'refused':
      return { kind: 'failed', failureCode: outcome.code };
    case 'in_progress':
      return { kind: 'later', step: 'query', delayMs: queryDelayMs(ageMs, policy, random) };
    case 'unknown':
      // After a send, the answer was lost; after a query, the carrier could not be asked. Either way: ask.
      return { kind: 'later', step: 'query', delayMs: queryDelayMs(ageMs, policy, random) };
    case 'transient':
      if (step === 'query')
        return { kind: 'later', step: 'query', delayMs: queryDelayMs(ageMs, policy, random) };
      return resendOrGiveUp(attempts, policy, random);
    case 'not_found':
      // What was sent never arrived: a refused attempt, and only now may it be sent again.
      return resendOrGiveUp(attempts, policy, random);
  }
}

function resendOrGiveUp(attempts: number, policy: RetryPolicy, random: () => number): Decision {
  if (attempts >= policy.maxAttempts) return { kind: 'failed', failureCode: 'carrier_unavailable' };
  return { kind: 'later', step: 'send', delayMs: backoffMs(attempts, policy.retryBaseMs, random) };
}

/** Exponential backoff with equal jitter: half the doubled delay for sure, the other half at random. */
function backoffMs(attempts: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = baseMs * 2 ** Math.max(0, attempts - 1);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Status queries come quickly for a young recharge and thin out as it ages (a quarter of its age, at most
 * a minute), so a carrier that keeps a recharge in progress for hours is asked about it a few times an
 * hour, never forgotten.
 */
function queryDelayMs(ageMs: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const delay = Math.min(MAX_QUERY_DELAY_MS, Math.max(policy.retryBaseMs, ageMs / 4));
  return Math.round(delay * (0.75 + random() / 4));
}
