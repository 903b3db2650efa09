import type { Kysely } from 'kysely';
import { CONNECT_TIMEOUT_MS, type DB, type RechargeStatus } from '../../db/database.js';
import { sqlStateOf } from '../../db/sql-state.js';
import { createBatcher } from '../../shared/batcher.js';
import { unavailable } from '../../shared/errors.js';
import type { InsertBatching, NewRecharge, PricedInsert } from './recharges.repository.js';
import { type PricedItem, type PricedRow, pricedInsertQuery } from './recharges.sql.js';

const UNIQUE_VIOLATION = '23505';

/**
 * Runs priced inserts: each in a statement of its own, or, with `batching`, concurrent ones sharing
 * statements, each still with its own outcome and its own failure.
 */
export function createPricedInsert(
  db: Kysely<DB>,
  batching: InsertBatching | undefined,
  notifyChannel: string | null,
): (item: PricedItem) => Promise<PricedInsert> {
  const run = (items: PricedItem[]) => db.executeQuery<PricedRow>(pricedInsertQuery(items, notifyChannel));

  async function insertOne({ recharge, claim }: PricedItem): Promise<PricedInsert> {
    let row: PricedRow | undefined;
    try {
      [row] = (await run([{ recharge, claim }])).rows;
    } catch (error) {
      // Two requests with one key both passed the lock in turn, and the second saw no key in its
      // snapshot: the primary key refused it, and the first one's recharge is the answer.
      if (!claim || sqlStateOf(error) !== UNIQUE_VIOLATION) throw error;
      [row] = (await run([{ recharge, claim }])).rows;
    }
    return outcomeOf(recharge, row);
  }

  async function insertBatch(items: PricedItem[]): Promise<PromiseSettledResult<PricedInsert>[]> {
    if (items.length === 1) return Promise.allSettled(items.map(insertOne));
    let rows: PricedRow[];
    try {
      ({ rows } = await run(items));
    } catch (error) {
      // PostgreSQL refused the statement (a key's race, a deadlock) and rolled all of it back: each
      // recharge is tried again on its own, and only its own failure reaches its request. A lost
      // connection or a timeout (unavailable, no SQLSTATE of a refusal) fails them all, as it would each.
      if (sqlStateOf(error) === undefined) throw error;
      return Promise.allSettled(items.map(insertOne));
    }
    // A recharge refused only because an earlier one of its client was is tried again on its own.
    return Promise.allSettled(
      items.map((item, index) =>
        rows[index]?.refusal === 'after_refusal' ? insertOne(item) : outcomeOf(item.recharge, rows[index]),
      ),
    );
  }

  if (!batching) return insertOne;
  return createBatcher(insertBatch, {
    ...batching,
    // Advisory locks are re-entrant within a session: two repeats of one key must not share a statement.
    conflictKey: ({ recharge, claim }) => (claim ? `${recharge.client}\n${claim.key}` : undefined),
    // A recharge waits for a statement no longer than a query waits for a pool connection, so with the
    // statement's own timeout its answer stays within the 5 s of docs/api.md (Errors) when PostgreSQL hangs.
    expiry: {
      afterMs: CONNECT_TIMEOUT_MS,
      error: () => unavailable(new Error('waited too long for a recharge statement')),
    },
  });
}

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
  if (row.refusal === 'phone_recently_recharged') {
    return { outcome: row.refusal, retryAfterSeconds: row.retry_after ?? 1 };
  }
  if (row.refusal === 'insufficient_funds' || row.refusal === 'daily_limit_exceeded') {
    return { outcome: row.refusal };
  }
  if (row.refusal === 'after_refusal') throw new Error('a recharge alone was refused for another one');
  if (row.product_value_cents !== null) {
    return { outcome: 'value_mismatch', productValueCents: row.product_value_cents };
  }
  return { outcome: row.company_exists ? 'unknown_product' : 'unknown_company' };
}
