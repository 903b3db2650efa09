import type { RefusalCode, StatusOutcome } from './carrier.port.js';

/**
 * The sandbox carrier's table of endings (docs/api.md), shared by the sandbox carrier inside the service
 * and the stand-alone carrier simulator: what a simulated carrier does with a send, decided by the last
 * four digits of the phone number and by how many times this reference was sent before.
 */
export type SendAction =
  | { kind: 'refuse'; code: RefusalCode }
  /** Answers 503: nothing credited. */
  | { kind: 'unavailable' }
  /** Takes the request and never answers, crediting nothing. */
  | { kind: 'drop' }
  /**
   * Credits, `creditAfterMs` from now (0: at once), and undoes it `reverseAfterMs` later if set. `answer`
   * is what the caller hears: the credit, "in progress", or nothing at all (the answer is lost).
   */
  | {
      kind: 'credit';
      answer: 'credited' | 'in_progress' | 'lost';
      creditAfterMs: number;
      reverseAfterMs?: number;
    };

/** 9007: the credit is undone about this long after it was applied. */
export const REVERSE_AFTER_MS = 2000;
/** 9008: the carrier reports "in progress" this long before the credit lands. */
export const IN_PROGRESS_MS = 3000;

const CREDIT: SendAction = { kind: 'credit', answer: 'credited', creditAfterMs: 0 };

/** The endings with a behaviour of their own; every other number is credited at once. */
export const SANDBOX_ENDINGS = ['9001', '9002', '9003', '9004', '9005', '9006', '9007', '9008', '9009'];

/** Whether a number's sends must be counted and remembered (the others are credited at once). */
export function hasSpecialEnding(phoneNumber: string): boolean {
  return SANDBOX_ENDINGS.includes(phoneNumber.slice(-4));
}

export function sendAction(phoneNumber: string, previousSends: number): SendAction {
  switch (phoneNumber.slice(-4)) {
    case '9001':
      return { kind: 'refuse', code: 'invalid_number' };
    case '9002':
      return { kind: 'refuse', code: 'barred_number' };
    case '9003':
      return { kind: 'unavailable' };
    case '9004':
      return previousSends < 2 ? { kind: 'unavailable' } : CREDIT;
    case '9005':
      return { kind: 'credit', answer: 'lost', creditAfterMs: 0 };
    case '9006':
      return previousSends === 0 ? { kind: 'drop' } : CREDIT;
    case '9007':
      return { kind: 'credit', answer: 'credited', creditAfterMs: 0, reverseAfterMs: REVERSE_AFTER_MS };
    case '9008':
      return { kind: 'credit', answer: 'in_progress', creditAfterMs: IN_PROGRESS_MS };
    case '9009':
      return { kind: 'refuse', code: 'carrier_declined' };
    default:
      return CREDIT;
  }
}

/** What a simulated carrier knows of one reference: its credits and the last refusal it answered. */
export type SandboxRecord = {
  credits: { creditedAt: Date; reversedAt: Date | null }[];
  refusal: RefusalCode | null;
};

/** The status query's answer, from the carrier's own books at `now`. */
export function statusFromRecord(record: SandboxRecord, now: Date): StatusOutcome {
  const landed = record.credits.filter((credit) => credit.creditedAt <= now);
  if (landed.some((credit) => credit.reversedAt !== null && credit.reversedAt <= now)) {
    return { kind: 'reversed' };
  }
  if (landed.length > 0) return { kind: 'credited' };
  if (record.credits.length > 0) return { kind: 'in_progress' };
  if (record.refusal) return { kind: 'refused', code: record.refusal };
  return { kind: 'not_found' };
}
