import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RechargeStatus } from '../src/db/database.js';
import type { SendOutcome, StatusOutcome } from '../src/modules/carrier/carrier.port.js';
import { decide } from '../src/modules/dispatcher/lifecycle.js';

/**
 * A model of one recharge between the dispatcher and a carrier that credits whatever it is sent (it does
 * not deduplicate, as the sandbox does not). The dispatcher's side is the real `decide` plus what the
 * claim and record statements do (dispatcher.repository.ts): a claim moves pending to processing, counts a
 * send, and leaves the step as a status query, which is what a crash before the record leaves behind.
 */
type Behaviour = 'credit' | 'credit_lost' | 'drop' | 'transient' | 'refuse' | 'in_progress';
type Event =
  | { kind: 'round'; behaviour: Behaviour; queryAnswered: boolean; crash: boolean }
  | { kind: 'land' };

const MOVES = new Set(['pending>processing', 'pending>failed', 'processing>completed', 'processing>failed']);
const POLICY = { maxAttempts: 3, retryBaseMs: 10 };

type Decide = typeof decide;

function run(events: Event[], decideWith: Decide) {
  const carrier = { credits: 0, accepted: false, refused: false };
  const row = { status: 'pending' as RechargeStatus, step: 'send' as 'send' | 'query', attempts: 0 };
  const final = () => ['completed', 'failed'].includes(row.status);
  const move = (to: RechargeStatus) => {
    if (to !== row.status && !MOVES.has(`${row.status}>${to}`)) throw new Error(`moved ${row.status}>${to}`);
    row.status = to;
  };

  function act(
    step: 'send' | 'query',
    behaviour: Behaviour,
    queryAnswered: boolean,
  ): SendOutcome | StatusOutcome {
    if (step === 'query') {
      if (!queryAnswered) return { kind: 'transient' };
      if (carrier.credits > 0) return { kind: 'credited' };
      if (carrier.accepted) return { kind: 'in_progress' };
      if (carrier.refused) return { kind: 'refused', code: 'carrier_declined' };
      return { kind: 'not_found' };
    }
    switch (behaviour) {
      case 'credit':
        carrier.credits += 1;
        return { kind: 'credited' };
      case 'credit_lost':
        carrier.credits += 1;
        return { kind: 'unknown' };
      case 'drop':
        return { kind: 'unknown' };
      case 'transient':
        return { kind: 'transient' };
      case 'refuse':
        carrier.refused = true;
        return { kind: 'refused', code: 'carrier_declined' };
      case 'in_progress':
        carrier.accepted = true;
        return { kind: 'in_progress' };
    }
  }

  function round(behaviour: Behaviour, queryAnswered: boolean, crash: boolean) {
    if (final()) return;
    move('processing');
    const step = row.step;
    if (step === 'send') row.attempts += 1;
    row.step = 'query';
    const outcome = act(step, behaviour, queryAnswered);
    if (crash) return; // The outcome is never recorded; the lease runs out with the step a status query.
    const decision = decideWith(step, outcome, row.attempts, 0, POLICY, () => 0.5);
    if (decision.kind === 'later') row.step = decision.step;
    else move(decision.kind);
  }

  function land() {
    if (carrier.accepted && carrier.credits === 0) carrier.credits += 1;
  }

  for (const event of events) {
    if (event.kind === 'land') land();
    else round(event.behaviour, event.queryAnswered, event.crash);
  }
  // Then the carrier settles and answers every call: the recharge must reach a final status.
  land();
  for (let quiet = 0; quiet < 2 * POLICY.maxAttempts + 2 && !final(); quiet += 1)
    round('credit', true, false);
  return { carrier, row };
}

const events = fc.array(
  fc.oneof(
    fc.record({
      kind: fc.constant('round' as const),
      behaviour: fc.constantFrom<Behaviour>(
        'credit',
        'credit_lost',
        'drop',
        'transient',
        'refuse',
        'in_progress',
      ),
      queryAnswered: fc.boolean(),
      crash: fc.boolean(),
    }),
    fc.constant({ kind: 'land' as const }),
  ),
  { maxLength: 30 },
);

function neverTwiceNeverLost(decideWith: Decide) {
  return fc.property(events, (sequence) => {
    const { carrier, row } = run(sequence, decideWith);
    expect(carrier.credits).toBeLessThanOrEqual(1);
    expect(['completed', 'failed']).toContain(row.status);
    // Completed exactly when credited: no refund of a credit, no charge without one.
    expect(row.status === 'completed').toBe(carrier.credits === 1);
  });
}

describe('the lifecycle model', () => {
  it('never credits twice, never moves backwards, and always ends, whatever the carrier and crashes do', () => {
    fc.assert(neverTwiceNeverLost(decide), { numRuns: 5000 });
  });

  it('catches a dispatcher that re-sends after an unanswered call without asking first', () => {
    const blind: Decide = (step, outcome, ...rest) =>
      outcome.kind === 'unknown' && step === 'send'
        ? { kind: 'later', step: 'send', delayMs: 0 }
        : decide(step, outcome, ...rest);
    const result = fc.check(neverTwiceNeverLost(blind), { numRuns: 5000 });
    expect(result.failed).toBe(true);
  });

  it('catches a dispatcher that gives up on a recharge the carrier still has in progress', () => {
    const impatient: Decide = (step, outcome, ...rest) =>
      outcome.kind === 'in_progress'
        ? { kind: 'failed', failureCode: 'carrier_unavailable' }
        : decide(step, outcome, ...rest);
    expect(fc.check(neverTwiceNeverLost(impatient), { numRuns: 5000 }).failed).toBe(true);
  });
});
