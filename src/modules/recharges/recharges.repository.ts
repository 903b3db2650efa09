import type { Kysely } from 'kysely';
import type { DB, RechargesTable } from '../../db/database.js';
import { createPricedInsert } from './priced-insert.js';

/** A recharge as the API shows it: the row without its client and the dispatcher's bookkeeping. */
export type RechargeRecord = Omit<
  RechargesTable,
  'client' | 'attempts' | 'next_step' | 'next_attempt_at' | 'claims'
>;

export type NewRecharge = Omit<RechargeRecord, 'created_at' | 'status' | 'updated_at' | 'failure_code'> & {
  client: string;
};

/** An Idempotency-Key and the fingerprint of the request that carries it. */
export type IdempotencyClaim = { key: string; fingerprint: string };

/** What one priced insert found: the recharge it stored, or why it stored nothing. */
export type PricedInsert =
  | { outcome: 'created'; recharge: RechargeRecord }
  | { outcome: 'replayed'; recharge: RechargeRecord; fingerprint: string }
  | { outcome: 'in_flight' }
  | { outcome: 'unknown_company' }
  | { outcome: 'unknown_product' }
  | { outcome: 'value_mismatch'; productValueCents: number }
  | { outcome: 'insufficient_funds' }
  | { outcome: 'daily_limit_exceeded' }
  | { outcome: 'phone_recently_recharged'; retryAfterSeconds: number };

/** How concurrent recharges share statements (see src/shared/batcher.ts); maxSize 1: one statement each. */
export type InsertBatching = { maxSize: number; maxInFlight: number };

export type PageCursor = { created_at: Date; id: string };

export const RECHARGE_COLUMNS = [
  'id',
  'created_at',
  'company_id',
  'product_id',
  'phone_number',
  'value_cents',
  'status',
  'updated_at',
  'failure_code',
] as const;

export type RechargeRepositoryOptions = {
  batching?: InsertBatching | undefined;
  /** A channel to NOTIFY when recharges are stored, for dispatchers in other processes to wake. */
  notifyChannel?: string | undefined;
};

export function createRechargeRepository(db: Kysely<DB>, options: RechargeRepositoryOptions = {}) {
  const { batching, notifyChannel = null } = options;
  const insert = createPricedInsert(db, batching, notifyChannel);

  return {
    /**
     * Checks company, product and value and inserts the recharge, and its idempotency key if any, in one
     * statement: one round trip and one transaction, so a key is never stored without its recharge. With
     * batching, recharges that arrive while earlier ones are being stored share the next statement (and
     * its commit), each with its own outcome. FOR SHARE holds the product rows, taken in key order (as
     * catalog writes take theirs, so the two never deadlock): a concurrent catalog write waits for this
     * insert, or this insert waits for it and compares against the new value. A try-lock on the (client,
     * key) pair tells a repeat that arrives while the first is still running (in_flight) from one that comes
     * after (replayed).
     */
    insertPriced(recharge: NewRecharge, claim?: IdempotencyClaim): Promise<PricedInsert> {
      return insert({ recharge, claim });
    },

    /** Forgets keys older than the retention; their recharges stay. */
    async purgeIdempotencyKeys(olderThan: Date): Promise<number> {
      const result = await db
        .deleteFrom('idempotency_keys')
        .where('created_at', '<', olderThan)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** `client` null: any client's (admin). */
    async findById(id: string, client: string | null): Promise<RechargeRecord | null> {
      let query = db.selectFrom('recharges').select(RECHARGE_COLUMNS).where('id', '=', id);
      if (client !== null) query = query.where('client', '=', client);
      return (await query.executeTakeFirst()) ?? null;
    },

    /** Any client's recharges with these ids, in no order (the outcome waiters' sweep). */
    findByIds(ids: string[]): Promise<RechargeRecord[]> {
      return db.selectFrom('recharges').select(RECHARGE_COLUMNS).where('id', 'in', ids).execute();
    },

    /** Oldest first, keyset-paginated on (created_at, id), which the phone number index serves. */
    async listByPhoneNumber(
      phoneNumber: string,
      client: string | null,
      limit: number,
      after?: PageCursor,
    ): Promise<RechargeRecord[]> {
      let query = db
        .selectFrom('recharges')
        .select(RECHARGE_COLUMNS)
        .where('phone_number', '=', phoneNumber)
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit);
      if (client !== null) query = query.where('client', '=', client);
      if (after) {
        query = query.where((eb) =>
          eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after.created_at, after.id)),
        );
      }
      return query.execute();
    },
  };
}

export type RechargeRepository = ReturnType<typeof createRechargeRepository>;
