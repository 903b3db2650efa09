import { type Kysely, sql } from 'kysely';

/**
 * The recharge lifecycle (docs/api.md). The recharge row is its own outbox: the columns that say what the
 * dispatcher does next are written by the same statement that stores the recharge, so there is never a
 * job without its recharge or a recharge without its job.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('recharges')
    // Recharges stored before the lifecycle existed were paid for and never sent: they start as pending.
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending'))
    .addColumn('updated_at', sql`timestamptz(3)`)
    .addColumn('failure_code', 'text')
    // Carrier sends made so far (status queries do not count).
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    // What the dispatcher does when next_attempt_at comes: send, or ask the carrier first.
    .addColumn('next_step', 'text', (col) => col.defaultTo('send'))
    .addColumn('next_attempt_at', sql`timestamptz(3)`)
    // A fencing token: bumped by every claim, so the outcome of a claim that expired is not recorded.
    .addColumn('claims', 'integer', (col) => col.notNull().defaultTo(0))
    .execute();
  await sql`update recharges set updated_at = created_at, next_attempt_at = created_at`.execute(db);
  await sql`
    alter table recharges
      alter column updated_at set not null,
      alter column status drop default,
      alter column next_step drop default,
      add constraint recharges_status_check
        check (status in ('pending', 'processing', 'completed', 'failed', 'reversed')),
      add constraint recharges_failure_code_check check (
        (status = 'failed' and failure_code in
          ('invalid_number', 'barred_number', 'carrier_declined', 'carrier_unavailable'))
        or (status = 'reversed' and failure_code = 'carrier_reversed')
        or (status in ('pending', 'processing', 'completed') and failure_code is null)),
      add constraint recharges_next_step_check check (next_step in ('send', 'query')),
      -- Work is scheduled exactly while a recharge is not final: none is forgotten, none runs after the end.
      add constraint recharges_work_scheduled check (
        (status in ('pending', 'processing')) = (next_step is not null and next_attempt_at is not null))
  `.execute(db);

  // The dispatcher's claim reads only the due, unfinished rows; finished ones leave the index.
  await sql`
    create index recharges_due_idx on recharges (next_attempt_at)
      where status in ('pending', 'processing')
  `.execute(db);

  // Only the moves docs/api.md lists exist, whoever writes the row.
  await sql`
    create function recharges_status_moves() returns trigger language plpgsql as $$
    begin
      if new.status is distinct from old.status and (old.status, new.status) not in (
        ('pending', 'processing'), ('pending', 'failed'), ('processing', 'completed'),
        ('processing', 'failed'), ('completed', 'reversed')
      ) then
        raise exception 'a recharge cannot move from % to %', old.status, new.status
          using errcode = 'check_violation';
      end if;
      return new;
    end $$
  `.execute(db);
  await sql`
    create trigger recharges_status_moves before update of status on recharges
      for each row execute function recharges_status_moves()
  `.execute(db);

  // The sandbox carrier's own books: apart from the service's tables, as a real carrier's would be, so
  // what it credited survives a crash of the service.
  await sql`
    create table sandbox_carrier_top_ups (
      id bigint generated always as identity primary key,
      reference uuid not null,
      phone_number text not null,
      value_cents integer not null,
      credited_at timestamptz(3) not null,
      reversed_at timestamptz(3)
    )
  `.execute(db);
  await sql`create index sandbox_carrier_top_ups_reference_idx on sandbox_carrier_top_ups (reference)`.execute(
    db,
  );
  await sql`
    create index sandbox_carrier_top_ups_reversed_idx on sandbox_carrier_top_ups (reversed_at)
      where reversed_at is not null
  `.execute(db);
  // Sends of the numbers whose behaviour depends on what came before (the sandbox carrier's endings
  // 9001–9009 in docs/api.md).
  await sql`
    create table sandbox_carrier_requests (
      reference uuid primary key,
      sends integer not null,
      refusal text
    )
  `.execute(db);
  // How far each carrier's reversal feed has been applied, shared by every instance.
  await sql`
    create table carrier_feed_cursors (
      carrier text primary key,
      seen_until timestamptz(3) not null
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table carrier_feed_cursors`.execute(db);
  await sql`drop table sandbox_carrier_requests`.execute(db);
  await sql`drop table sandbox_carrier_top_ups`.execute(db);
  await sql`drop trigger recharges_status_moves on recharges`.execute(db);
  await sql`drop function recharges_status_moves()`.execute(db);
  await sql`drop index recharges_due_idx`.execute(db);
  await sql`
    alter table recharges
      drop constraint recharges_work_scheduled,
      drop constraint recharges_next_step_check,
      drop constraint recharges_failure_code_check,
      drop constraint recharges_status_check,
      drop column claims, drop column next_attempt_at, drop column next_step, drop column attempts,
      drop column failure_code, drop column updated_at, drop column status
  `.execute(db);
}
