/**
 * What the dispatcher knows of a carrier: send a top-up for a reference, ask what became of a reference,
 * and list the credits it undid. The adapter behind it (sandbox, http, a real aggregator) decides which of
 * its failures are transient, final or unknown; the dispatcher acts on these outcomes only.
 */

/** Why a carrier refused a top-up for good; the recharge fails with this failure_code. */
export type RefusalCode = 'invalid_number' | 'barred_number' | 'carrier_declined';

export type SendOutcome =
  /** The carrier confirmed the credit. */
  | { kind: 'credited' }
  /** The carrier took it and has no outcome yet: ask its status later. */
  | { kind: 'in_progress' }
  /** Refused for good: nothing was credited and a retry would be refused too. */
  | { kind: 'refused'; code: RefusalCode }
  /** Not taken (a 5xx, a refused connection): nothing was credited, and it may be sent again. */
  | { kind: 'transient' }
  /**
   * No answer (a timeout, a reset after the request left): it may or may not have been credited. Never
   * sent again before a status query says the carrier has no record of it.
   */
  | { kind: 'unknown' };

export type StatusOutcome =
  | SendOutcome
  /** The carrier has no record of the reference: what was sent never arrived. */
  | { kind: 'not_found' }
  /** The carrier credited it and has since undone the credit. */
  | { kind: 'reversed' };

export type TopUp = {
  /** The recharge id: the carrier's idempotency reference. */
  reference: string;
  phoneNumber: string;
  valueCents: number;
};

/** A credit the carrier undid, as its reversal feed reports it. */
export type Reversal = { reference: string; reversedAt: Date };

export interface Carrier {
  readonly name: 'sandbox' | 'http';
  send(topUp: TopUp): Promise<SendOutcome>;
  status(reference: string): Promise<StatusOutcome>;
  /**
   * Credits undone at or after `since`, oldest first in (time, reference) order, a page of at most 1000.
   * With `after`, those at exactly `since` come only if their reference sorts after it, so the last entry
   * of a page is where the next page starts, however many share one instant. `reversedAt` must be the
   * carrier's own time to the millisecond, as asked for again. The dispatcher starts again from a little
   * before the last one it saw, so a feed may repeat entries; applying one twice changes nothing.
   */
  reversalsSince(since: Date, after?: string): Promise<Reversal[]>;
  close(): Promise<void>;
}
