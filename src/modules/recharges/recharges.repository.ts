import { CompiledQuery, type Kysely } from 'kysely';
import {
  CONNECT_TIMEOUT_MS,
  type DB,
  type FailureCode,
  preparedStatement,
  type RechargeStatus,
} from '../../db/database.js';
import { createBatcher } from '../../shared/batcher.js';
import { unavailable } from '../../shared/errors.js';

export type RechargeRecord = {
  id: string;
  created_at: Date;
  company_id: string;
  product_id: string;
  phone_number: string;
  value_cents: number;
  status: RechargeStatus;
  updated_at: Date;
  failure_code: FailureCode | null;
};

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
  | { outcome: 'value_mismatch'; productValueCents: number };

type PricedRow = {
  acquired: boolean;
  company_exists: boolean;
  product_value_cents: number | null;
  created_at: Date | null;
  existing_fingerprint: string | null;
  existing_id: string | null;
  existing_created_at: Date | null;
  existing_company_id: string | null;
  existing_product_id: string | null;
  existing_phone_number: string | null;
  existing_value_cents: number | null;
  existing_status: RechargeStatus | null;
  existing_updated_at: Date | null;
  existing_failure_code: FailureCode | null;
};

/** One recharge to insert, with its key if it has one. */
type PricedItem = { recharge: NewRecharge; claim: IdempotencyClaim | undefined };

/** How concurrent recharges share statements (see src/shared/batcher.ts); maxSize 1: one statement each. */
export type InsertBatching = { maxSize: number; maxInFlight: number };

const UNIQUE_VIOLATION = '23505';

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
  async function insertOne({ recharge, claim }: PricedItem): Promise<PricedInsert> {
    let row: PricedRow | undefined;
    try {
      [row] = (await pricedInsert(db, [{ recharge, claim }], notifyChannel)).rows;
    } catch (error) {
      // Two requests with one key both passed the lock in turn, and the second saw no key in its
      // snapshot: the primary key refused it, and the first one's recharge is the answer.
      if (!claim || sqlState(error) !== UNIQUE_VIOLATION) throw error;
      [row] = (await pricedInsert(db, [{ recharge, claim }], notifyChannel)).rows;
    }
    return outcomeOf(recharge, row);
  }

  async function insertBatch(items: PricedItem[]): Promise<PromiseSettledResult<PricedInsert>[]> {
    if (items.length === 1) return Promise.allSettled(items.map(insertOne));
    let rows: PricedRow[];
    try {
      ({ rows } = await pricedInsert(db, items, notifyChannel));
    } catch (error) {
      // PostgreSQL refused the statement (a key's race, a deadlock) and rolled all of it back: each
      // recharge is tried again on its own, and only its own failure reaches its request. A lost
      // connection or a timeout (unavailable, no SQLSTATE of a refusal) fails them all, as it would each.
      if (sqlState(error) === undefined) throw error;
      return Promise.allSettled(items.map(insertOne));
    }
    return items.map((item, index) => ({
      status: 'fulfilled',
      value: outcomeOf(item.recharge, rows[index]),
    }));
  }

  const insert = batching
    ? createBatcher(insertBatch, {
        ...batching,
        // Advisory locks are re-entrant within a session: two repeats of one key must not share a statement.
        conflictKey: ({ recharge, claim }) => (claim ? `${recharge.client}\n${claim.key}` : undefined),
        // A recharge waits for a statement no longer than a query waits for a pool connection, so with the
        // statement's own timeout its answer stays within SPEC's 5 s when PostgreSQL hangs.
        expiry: {
          afterMs: CONNECT_TIMEOUT_MS,
          error: () => unavailable(new Error('waited too long for a recharge statement')),
        },
      })
    : insertOne;

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

function outcomeOf(recharge: NewRecharge, row: PricedRow | undefined): PricedInsert {
  if (!row) throw new Error('the priced insert returned no row for a recharge');
  // A bound key is answered even while another repeat holds its lock: only an unbound key is in flight.
  if (row.existing_id !== null) {
    return {
      outcome: 'replayed',
      recharge: {
        id: row.existing_id,
        created_at: row.existing_created_at as Date,
        company_id: row.existing_company_id as string,
        product_id: row.existing_product_id as string,
        phone_number: row.existing_phone_number as string,
        value_cents: row.existing_value_cents as number,
        status: row.existing_status as RechargeStatus,
        updated_at: row.existing_updated_at as Date,
        failure_code: row.existing_failure_code,
      },
      fingerprint: row.existing_fingerprint as string,
    };
  }
  if (!row.acquired) return { outcome: 'in_flight' };
  if (row.created_at) {
    const { client: _client, ...stored } = recharge;
    return {
      outcome: 'created',
      recharge: {
        ...stored,
        created_at: row.created_at,
        status: 'pending',
        updated_at: row.created_at,
        failure_code: null,
      },
    };
  }
  if (row.product_value_cents !== null) {
    return { outcome: 'value_mismatch', productValueCents: row.product_value_cents };
  }
  return { outcome: row.company_exists ? 'unknown_product' : 'unknown_company' };
}

/** The SQLSTATE of an error PostgreSQL answered with; undefined for anything else. */
function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

// Its text never changes (a prepared statement's must not), so it is written out once, not built by Kysely
// per request. One row of each array per recharge, in order: $1 key, $2 client, $3 company_id,
// $4 product_id, $5 id, $6 phone_number, $7 value_cents, $8 fingerprint; $9 the channel to NOTIFY (null:
// none); one answer row per recharge, in the same order. Product rows are locked in (company_id, product_id) order, as catalog writes lock them.
const PRICED_INSERT = `${preparedStatement('recharges_priced_insert')}
    with input as (
      select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                           $7::integer[], $8::text[])
        with ordinality as t(key, client, company_id, product_id, id, phone_number, value_cents,
                             fingerprint, ord)
    ), lock as (
      select ord, case when key is null then true
             else pg_try_advisory_xact_lock(hashtextextended(client || chr(10) || key, 0))
             end as acquired
      from input
    ), existing as (
      -- A lateral look-up per recharge, by primary key: a plan cached while the table was empty must not
      -- become a scan of the whole table as it grows (a join here was planned as one).
      select i.ord, e.*
      from input i
      cross join lateral (
        select k.fingerprint, r.id, r.created_at, r.company_id, r.product_id, r.phone_number, r.value_cents,
               r.status, r.updated_at, r.failure_code
        from idempotency_keys k join recharges r on r.id = k.recharge_id
        where k.client = i.client and k.key = i.key
        limit 1
      ) e
    ), product as (
      select i.ord, p.value_cents
      from input i
      join lock l on l.ord = i.ord and l.acquired
      join products p on p.company_id = i.company_id and p.product_id = i.product_id
      where not exists (select 1 from existing e where e.ord = i.ord)
      order by p.company_id collate "C", p.product_id collate "C"
      for share of p
    ), inserted as (
      -- Stored as pending and due at once: the row is the dispatcher's outbox (migration 0006).
      insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents, client,
                             status, updated_at, next_step, next_attempt_at)
      select i.id, statement_timestamp(), i.company_id, i.product_id, i.phone_number, p.value_cents,
             i.client, 'pending', statement_timestamp(), 'send', statement_timestamp()
      from input i join product p on p.ord = i.ord
      where p.value_cents = i.value_cents
      returning id, created_at
    ), keyed as (
      -- Runs although nothing reads it: PostgreSQL carries out every data-modifying CTE to completion.
      insert into idempotency_keys (client, key, fingerprint, recharge_id, created_at)
      select i.client, i.key, i.fingerprint, n.id, n.created_at
      from inserted n join input i on i.id = n.id
      where i.key is not null
    ), notified as (
      -- Delivered at commit, so a dispatcher that wakes finds the rows.
      select pg_notify($9::text, '') from (select 1 from inserted limit 1) stored where $9::text is not null
    )
    select l.acquired, (select count(*) from notified) > 0 as notified,
           -- A priced product's company exists (a foreign key says so); only a refusal looks.
           p.ord is not null or exists (select 1 from companies c where c.company_id = i.company_id)
             as company_exists,
           p.value_cents as product_value_cents, n.created_at,
           e.fingerprint as existing_fingerprint, e.id as existing_id, e.created_at as existing_created_at,
           e.company_id as existing_company_id, e.product_id as existing_product_id,
           e.phone_number as existing_phone_number, e.value_cents as existing_value_cents,
           e.status as existing_status, e.updated_at as existing_updated_at,
           e.failure_code as existing_failure_code
    from input i
    join lock l on l.ord = i.ord
    left join existing e on e.ord = i.ord
    left join product p on p.ord = i.ord
    left join inserted n on n.id = i.id
    order by i.ord`;

function pricedInsert(db: Kysely<DB>, items: PricedItem[], notifyChannel: string | null) {
  const parameters = [
    items.map(({ claim }) => claim?.key ?? null),
    items.map(({ recharge }) => recharge.client),
    items.map(({ recharge }) => recharge.company_id),
    items.map(({ recharge }) => recharge.product_id),
    items.map(({ recharge }) => recharge.id),
    items.map(({ recharge }) => recharge.phone_number),
    items.map(({ recharge }) => recharge.value_cents),
    items.map(({ claim }) => claim?.fingerprint ?? null),
    notifyChannel,
  ];
  return db.executeQuery<PricedRow>(CompiledQuery.raw(PRICED_INSERT, parameters));
}
