import { CompiledQuery, type Kysely } from 'kysely';
import { type DB, preparedStatement } from '../../db/database.js';

export type RechargeRecord = {
  id: string;
  created_at: Date;
  company_id: string;
  product_id: string;
  phone_number: string;
  value_cents: number;
};

export type NewRecharge = Omit<RechargeRecord, 'created_at'> & { client: string };

/** An Idempotency-Key and the fingerprint of the request that carries it. */
export type IdempotencyClaim = { key: string; fingerprint: string };

/** What one priced insert found: the recharge it stored, or why it stored nothing. */
export type PricedInsert =
  | { outcome: 'created'; recharge: RechargeRecord }
  | { outcome: 'replayed'; recharge: RechargeRecord; fingerprint: string }
  | { outcome: 'in_flight' }
  | { outcome: 'unknown_company' }
  | { outcome: 'unknown_product' }
  | { outcome: 'value_mismatch'; productValueCents: number };

type PricedRow = {
  acquired: boolean;
  existing: (Omit<RechargeRecord, 'created_at'> & { created_at: string; fingerprint: string }) | null;
  company_exists: boolean;
  product_value_cents: number | null;
  created_at: Date | null;
};

const UNIQUE_VIOLATION = '23505';

export type PageCursor = { created_at: Date; id: string };

const COLUMNS = ['id', 'created_at', 'company_id', 'product_id', 'phone_number', 'value_cents'] as const;

export function createRechargeRepository(db: Kysely<DB>) {
  return {
    /**
     * Checks company, product and value and inserts the recharge, and its idempotency key if any, in one
     * statement: one round trip and one transaction, so a key is never stored without its recharge.
     * FOR SHARE holds the product row: a concurrent catalog write waits for this insert, or this insert
     * waits for it and compares against the new value. A try-lock on the (client, key) pair tells a repeat
     * that arrives while the first is still running (in_flight) from one that comes after (replayed).
     */
    async insertPriced(recharge: NewRecharge, claim?: IdempotencyClaim): Promise<PricedInsert> {
      let row: PricedRow | undefined;
      try {
        row = (await pricedInsert(db, recharge, claim)).rows[0];
      } catch (error) {
        // Two requests with one key both passed the lock in turn, and the second saw no key in its
        // snapshot: the primary key refused it, and the first one's recharge is the answer.
        if (!claim || (error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        row = (await pricedInsert(db, recharge, claim)).rows[0];
      }
      if (!row) throw new Error('the priced insert returned no row');
      // A bound key is answered even while another repeat holds its lock: only an unbound key is in flight.
      if (!row.acquired && !row.existing) return { outcome: 'in_flight' };
      if (row.existing) {
        const { fingerprint, created_at, ...stored } = row.existing;
        return {
          outcome: 'replayed',
          recharge: { ...stored, created_at: new Date(created_at) },
          fingerprint,
        };
      }
      if (row.created_at) {
        const { client: _client, ...stored } = recharge;
        return { outcome: 'created', recharge: { ...stored, created_at: row.created_at } };
      }
      if (row.product_value_cents !== null) {
        return { outcome: 'value_mismatch', productValueCents: row.product_value_cents };
      }
      return { outcome: row.company_exists ? 'unknown_product' : 'unknown_company' };
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
      let query = db.selectFrom('recharges').select(COLUMNS).where('id', '=', id);
      if (client !== null) query = query.where('client', '=', client);
      return (await query.executeTakeFirst()) ?? null;
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
        .select(COLUMNS)
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

// Its text never changes (a prepared statement's must not), so it is written out once, not built by Kysely
// per request: $1 key, $2 client, $3 company_id, $4 product_id, $5 id, $6 phone_number, $7 value_cents,
// $8 fingerprint.
const PRICED_INSERT = `${preparedStatement('recharges_priced_insert')}
    with lock as (
      select case when $1::text is null then true
             else pg_try_advisory_xact_lock(hashtextextended($2::text || chr(10) || $1::text, 0))
             end as acquired
    ), existing as (
      select k.fingerprint, r.id, r.created_at, r.company_id, r.product_id, r.phone_number, r.value_cents
      from idempotency_keys k join recharges r on r.id = k.recharge_id
      where k.client = $2::text and k.key = $1::text
    ), product as (
      select value_cents from products
      where company_id = $3::text and product_id = $4::text
        and (select acquired from lock) and not exists (select 1 from existing)
      for share
    ), inserted as (
      insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents, client)
      select $5::uuid, statement_timestamp(), $3::text, $4::text, $6::text, value_cents, $2::text
      from product where value_cents = $7::integer
      returning id, created_at
    ), keyed as (
      -- Runs although nothing reads it: PostgreSQL carries out every data-modifying CTE to completion.
      insert into idempotency_keys (client, key, fingerprint, recharge_id, created_at)
      select $2::text, $1::text, $8::text, id, created_at
      from inserted where $1::text is not null
    )
    select
      (select acquired from lock) as acquired,
      (select row_to_json(existing) from existing) as existing,
      exists (select 1 from companies where company_id = $3::text) as company_exists,
      (select value_cents from product) as product_value_cents,
      (select created_at from inserted) as created_at`;

function pricedInsert(db: Kysely<DB>, recharge: NewRecharge, claim?: IdempotencyClaim) {
  const parameters = [
    claim?.key ?? null,
    recharge.client,
    recharge.company_id,
    recharge.product_id,
    recharge.id,
    recharge.phone_number,
    recharge.value_cents,
    claim?.fingerprint ?? null,
  ];
  return db.executeQuery<PricedRow>(CompiledQuery.raw(PRICED_INSERT, parameters));
}
