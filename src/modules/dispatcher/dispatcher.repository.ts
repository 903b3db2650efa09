import { CompiledQuery, type Kysely, sql } from 'kysely';
import { type DB, type FailureCode, preparedStatement, type RechargeStatus } from '../../db/database.js';
import { refundCtes } from '../accounts/ledger.sql.js';
import type { RechargeRecord } from '../recharges/index.js';
import { announceCte } from '../webhooks/messages.sql.js';
import type { Step } from './lifecycle.js';

/** A recharge the dispatcher claimed: its step, and the claim number that fences what it records. */
export type ClaimedRecharge = {
  id: string;
  phone_number: string;
  value_cents: number;
  created_at: Date;
  attempts: number;
  claims: number;
  step: Step;
  previous_status: RechargeStatus;
};

/** The outcome of one claim, to record if the claim still holds. */
export type Outcome = {
  id: string;
  claims: number;
  status: RechargeStatus;
  failureCode: FailureCode | null;
  /** null: final, nothing more to do. */
  next: { step: Step; delayMs: number } | null;
};

// Claims due work and leases it: the lease runs out after one bounded carrier call and a margin, and the
// step becomes a status query, so that a claimer that dies mid-call is followed by a query, never by a
// blind re-send. The function (migration 0009) takes the oldest due rows in index order, skipping rows
// another claimer holds. $1 how many, $2 the lease in ms.
const CLAIM = `${preparedStatement('dispatcher_claim')}
  select * from recharges_claim($1::integer, $2::integer)`;

const RECORDED_COLUMNS = `id, created_at, company_id, product_id, phone_number, value_cents, status,
  updated_at, failure_code`;

// Records outcomes, each only if its claim is still the latest one (a claim whose lease ran out may have
// been taken over) and the recharge is not final yet (a record sent twice moves nothing twice), and
// refunds the ones that failed in the same statement. $1 ids, $2 claims, $3 statuses, $4 failure codes,
// $5 next steps, $6 delays in ms.
const RECORD = `${preparedStatement('dispatcher_record')}
  with recorded as (
    update recharges r set
      status = t.status,
      failure_code = t.failure_code,
      updated_at = case when t.status <> r.status then statement_timestamp() else r.updated_at end,
      next_step = t.next_step,
      next_attempt_at = case when t.next_step is null then null
                        else statement_timestamp() + make_interval(secs => t.delay_ms / 1000.0) end
    from unnest($1::uuid[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::integer[])
      as t(id, claims, status, failure_code, next_step, delay_ms)
    where r.id = t.id and r.claims = t.claims and r.status in ('pending', 'processing')
    returning r.*
  ), ${refundCtes('recorded', "m.status = 'failed'")}, ${announceCte('recorded')}
  select ${RECORDED_COLUMNS} from recorded`;

// Moves completed recharges to reversed and refunds them. $1 the carrier's references.
const REVERSE = `${preparedStatement('dispatcher_reverse')}
  with reversed as (
    update recharges set status = 'reversed', failure_code = 'carrier_reversed',
                         updated_at = statement_timestamp()
    where id = any($1::uuid[]) and status = 'completed'
    returning *
  ), ${refundCtes('reversed', 'true')}, ${announceCte('reversed')}
  select ${RECORDED_COLUMNS} from reversed`;

// The references whose recharge is not final yet. $1 the carrier's references.
const UNFINISHED = `${preparedStatement('dispatcher_unfinished')}
  select id from recharges where id = any($1::uuid[]) and status in ('pending', 'processing')`;

export function createDispatcherRepository(db: Kysely<DB>) {
  return {
    async claim(limit: number, leaseMs: number): Promise<ClaimedRecharge[]> {
      const { rows } = await db.executeQuery<ClaimedRecharge>(CompiledQuery.raw(CLAIM, [limit, leaseMs]));
      return rows;
    },

    /** Answers the recharges whose outcome was recorded; a fenced-off one is left out. */
    async record(outcomes: Outcome[]): Promise<RechargeRecord[]> {
      const { rows } = await db.executeQuery<RechargeRecord>(
        CompiledQuery.raw(RECORD, [
          outcomes.map((outcome) => outcome.id),
          outcomes.map((outcome) => outcome.claims),
          outcomes.map((outcome) => outcome.status),
          outcomes.map((outcome) => outcome.failureCode),
          outcomes.map((outcome) => outcome.next?.step ?? null),
          outcomes.map((outcome) => outcome.next?.delayMs ?? null),
        ]),
      );
      return rows;
    },

    /**
     * Moves completed recharges to reversed. Answers the ones it moved, and the ones it had to leave because
     * the recharge's credit is not recorded yet (the feed is read again from the earliest of them).
     */
    async applyReversals(
      references: string[],
    ): Promise<{ reversed: RechargeRecord[]; notYetCompleted: string[] }> {
      if (references.length === 0) return { reversed: [], notYetCompleted: [] };
      // Unfinished first: a recharge recorded as completed between the two statements is then both
      // waited for and, if REVERSE already sees it completed, reversed. The other order would see it in
      // neither, and the feed would move past its reversal for good.
      const { rows: unfinished } = await db.executeQuery<{ id: string }>(
        CompiledQuery.raw(UNFINISHED, [references]),
      );
      const { rows: reversed } = await db.executeQuery<RechargeRecord>(
        CompiledQuery.raw(REVERSE, [references]),
      );
      return { reversed, notYetCompleted: unfinished.map((row) => row.id) };
    },

    async feedCursor(carrier: string): Promise<Date | null> {
      const row = await db
        .selectFrom('carrier_feed_cursors')
        .select('seen_until')
        .where('carrier', '=', carrier)
        .executeTakeFirst();
      return row?.seen_until ?? null;
    },

    /** Moves the cursor forward only: two instances reading the feed at once never move it back. */
    async advanceFeedCursor(carrier: string, seenUntil: Date): Promise<void> {
      await sql`
        insert into carrier_feed_cursors (carrier, seen_until) values (${carrier}, ${seenUntil})
        on conflict (carrier) do update
          set seen_until = greatest(carrier_feed_cursors.seen_until, excluded.seen_until)
      `.execute(db);
    },

    /** The unfinished recharges by status, and the age of the oldest of each, for /metrics. */
    async backlog(): Promise<{ status: RechargeStatus; count: number; oldest_age_seconds: number }[]> {
      const { rows } = await sql<{ status: RechargeStatus; count: string; oldest_age_seconds: number }>`
        select status, count(*) as count,
               extract(epoch from statement_timestamp() - min(updated_at))::float8 as oldest_age_seconds
        from recharges where status in ('pending', 'processing') group by status
      `.execute(db);
      return rows.map((row) => ({ ...row, count: Number(row.count) }));
    },
  };
}

export type DispatcherRepository = ReturnType<typeof createDispatcherRepository>;
