import { type Kysely, sql } from 'kysely';

/**
 * The dispatcher's claim as a function that always walks `recharges_due_idx` in due order and stops after
 * the rows it takes. Left to the planner, the same query is a bitmap scan plus a sort whenever the table's
 * statistics are stale or taken while it was small: that plan reads every index entry due so far, dead ones
 * included (a bitmap scan never marks an entry dead, so they stay until a VACUUM), and sorts every due row
 * to keep a few. Its cost then grows with the updates since the last VACUUM and with the backlog. In index
 * order, the scan stops at the limit, and it can mark the dead entries it passes so that later claims skip
 * them (docs/performance.md says how many a claim still reads under load).
 *
 * The SET clauses make any other plan cost more than this one, for the function's own statements only.
 * $1 how many, $2 the lease in ms; the dispatcher's CLAIM statement explains the rest.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function recharges_claim(how_many integer, lease_ms integer)
    returns table (
      id uuid, phone_number text, value_cents integer, created_at timestamptz, attempts integer,
      claims integer, step text, previous_status text
    ) language plpgsql
    set enable_seqscan = off
    set enable_bitmapscan = off
    as $$
    #variable_conflict use_column
    begin
      return query
        with due as (
          select d.id, d.status, d.next_step from recharges d
          where d.status in ('pending', 'processing') and d.next_attempt_at <= statement_timestamp()
          order by d.next_attempt_at
          limit how_many
          for update skip locked
        )
        update recharges r set
          status = 'processing',
          updated_at = case when due.status = 'pending' then statement_timestamp() else r.updated_at end,
          attempts = r.attempts + case when due.next_step = 'send' then 1 else 0 end,
          claims = r.claims + 1,
          next_step = 'query',
          next_attempt_at = statement_timestamp() + make_interval(secs => lease_ms / 1000.0)
        from due
        where r.id = due.id
        returning r.id, r.phone_number, r.value_cents, r.created_at, r.attempts, r.claims,
                  due.next_step, due.status;
    end $$
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function recharges_claim(integer, integer)`.execute(db);
}
