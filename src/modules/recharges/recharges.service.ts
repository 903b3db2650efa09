import { hash } from 'node:crypto';
import { uuidv7 } from 'uuidv7';
import { decodeCursor, encodeCursor, instantOf, pageOf } from '../../shared/cursor.js';
import {
  dailyLimitExceeded,
  idempotencyKeyInFlight,
  idempotencyKeyReused,
  insufficientFunds,
  invalidRequest,
  notFound,
  phoneRecentlyRecharged,
  unknownCompany,
  unknownProduct,
  valueMismatch,
} from '../../shared/errors.js';
import { formatCents } from '../../shared/money.js';
import { normalizePhoneNumber } from '../../shared/phone.js';
import { isFinal, type OutcomeWaiters } from './outcome-waiters.js';
import type { NewRecharge, PageCursor, RechargeRecord, RechargeRepository } from './recharges.repository.js';

export type RechargeRequest = Omit<NewRecharge, 'id' | 'client'>;
export type RechargePage = { phoneNumber: string; items: RechargeRecord[]; nextCursor: string | null };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createRechargeService({
  recharges,
  waiters,
  onCreated = () => {},
  newId = uuidv7,
}: {
  recharges: RechargeRepository;
  /** Where `Prefer: wait` waits for outcomes; without it, a recharge is answered as it is. */
  waiters?: OutcomeWaiters;
  /** Told after a recharge is stored, to dispatch it at once. */
  onCreated?: () => void;
  newId?: () => string;
}) {
  return {
    /**
     * Prices and stores a recharge atomically; refusals store nothing. With an idempotency key, a repeat
     * of a stored request returns that recharge (`replayed`), and only a stored recharge binds the key.
     */
    async createRecharge(
      input: RechargeRequest,
      client: string,
      idempotencyKey?: string,
    ): Promise<{ recharge: RechargeRecord; replayed: boolean }> {
      const phoneNumber = requirePhoneNumber(input.phone_number, '/phone_number');
      const normalized = { ...input, phone_number: phoneNumber };
      const fingerprint = fingerprintOf(normalized);
      const claim = idempotencyKey === undefined ? undefined : { key: idempotencyKey, fingerprint };
      const result = await recharges.insertPriced({ ...normalized, id: newId(), client }, claim);
      switch (result.outcome) {
        case 'created':
          onCreated();
          return { recharge: result.recharge, replayed: false };
        case 'replayed':
          if (result.fingerprint !== fingerprint) throw idempotencyKeyReused();
          return { recharge: result.recharge, replayed: true };
        case 'in_flight':
          throw idempotencyKeyInFlight();
        case 'unknown_company':
          throw unknownCompany(input.company_id);
        case 'unknown_product':
          throw unknownProduct(input.company_id, input.product_id);
        case 'value_mismatch':
          throw valueMismatch(input.product_id, result.productValueCents, input.value_cents);
        case 'insufficient_funds':
          throw insufficientFunds(
            `the account of ${client} cannot pay ${formatCents(input.value_cents)}; see GET /Accounts`,
          );
        case 'daily_limit_exceeded':
          throw dailyLimitExceeded();
        case 'phone_recently_recharged':
          throw phoneRecentlyRecharged(result.retryAfterSeconds);
      }
    },

    /**
     * The recharge once final, or as it is after `seconds`. The wait holds no connection: a waiter is a
     * promise and a timer until the outcome is recorded or the time is up, then one read.
     */
    async awaitOutcome(recharge: RechargeRecord, seconds: number): Promise<RechargeRecord> {
      if (!waiters || isFinal(recharge)) return recharge;
      const final = await waiters.wait(recharge.id, seconds * 1000);
      return final ?? (await recharges.findById(recharge.id, null)) ?? recharge;
    },

    /** Forgets idempotency keys older than the retention (their recharges stay); returns how many. */
    purgeIdempotencyKeys(retentionMs: number, now = new Date()): Promise<number> {
      return recharges.purgeIdempotencyKeys(new Date(now.getTime() - retentionMs));
    },

    /** `client` null sees every client's recharges (admin); another client's is as absent as a missing one. */
    async getRecharge(id: string, client: string | null): Promise<RechargeRecord> {
      // A malformed id is as absent as an unknown one, and costs no query.
      const recharge = UUID.test(id) ? await recharges.findById(id.toLowerCase(), client) : null;
      if (!recharge) throw notFound('no such recharge');
      return recharge;
    },

    async listByPhoneNumber(
      phoneNumberInput: string,
      client: string | null,
      limit: number,
      cursor?: string,
    ): Promise<RechargePage> {
      const phoneNumber = requirePhoneNumber(phoneNumberInput, '/phone_number');
      const after = cursor === undefined ? undefined : readCursor(cursor);
      const rows = await recharges.listByPhoneNumber(phoneNumber, client, limit + 1, after);
      const { items, last } = pageOf(rows, limit);
      return { phoneNumber, items, nextCursor: last ? cursorAfter(last) : null };
    },
  };
}

export type RechargeService = ReturnType<typeof createRechargeService>;

/** What makes two requests "the same": the normalised body (digits-only phone number, value in cents). */
function fingerprintOf(request: RechargeRequest): string {
  const canonical = [request.company_id, request.product_id, request.phone_number, request.value_cents];
  return hash('sha256', JSON.stringify(canonical), 'hex');
}

function requirePhoneNumber(input: string, path: string): string {
  const digits = normalizePhoneNumber(input);
  if (digits === null) {
    throw invalidRequest('phone_number is not a Brazilian mobile number', [
      { path, message: 'must be 55, a DDD and nine digits starting with 9' },
    ]);
  }
  return digits;
}

/** The position after a recharge: its (created_at, id), the order `listByPhoneNumber` pages in. */
function cursorAfter(recharge: RechargeRecord): string {
  return encodeCursor([recharge.created_at.toISOString(), recharge.id]);
}

/** The position a cursor of `cursorAfter` carries; any other cursor is a 400. */
function readCursor(cursor: string): PageCursor {
  return decodeCursor(cursor, (key) => {
    const [createdAt, id] = key;
    const date = instantOf(createdAt);
    return key.length === 2 && date && typeof id === 'string' && UUID.test(id)
      ? { created_at: date, id }
      : undefined;
  });
}
