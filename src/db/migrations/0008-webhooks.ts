import { type Kysely, sql } from 'kysely';

/**
 * Webhook endpoints and their messages (docs/webhooks.md). A message is written by the statement that
 * records the status it announces, so there is never an outcome without its messages, and its row is the
 * delivery engine's outbox, as a recharge's row is the dispatcher's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_endpoints (
      id text primary key,
      client text not null,
      url text not null,
      events text[] not null,
      status text not null check (status in ('active', 'disabled')),
      secret text not null,
      -- After a rotation the old secret signs beside the new one until previous_secret_until.
      previous_secret text,
      previous_secret_until timestamptz(3),
      created_at timestamptz(3) not null default statement_timestamp(),
      updated_at timestamptz(3) not null default statement_timestamp()
    )
  `.execute(db);
  await sql`create index webhook_endpoints_client_idx on webhook_endpoints (client)`.execute(db);

  await sql`
    create table webhook_messages (
      id text primary key,
      endpoint_id text not null references webhook_endpoints (id) on delete cascade,
      client text not null,
      type text not null,
      recharge_id uuid not null references recharges (id),
      -- The recharge as it was when the message was written (the rest of a recharge never changes), so every
      -- attempt sends the same body, whatever the recharge becomes later.
      recharge_status text not null,
      recharge_updated_at timestamptz(3) not null,
      recharge_failure_code text,
      status text not null check (status in ('pending', 'delivered', 'failed')),
      attempts integer not null default 0,
      last_response_status integer,
      next_attempt_at timestamptz(3),
      created_at timestamptz(3) not null default statement_timestamp(),
      check ((status = 'pending') = (next_attempt_at is not null))
    )
  `.execute(db);
  // The engine's claim reads only the pending messages; delivered and failed ones leave the index.
  await sql`create index webhook_messages_due_idx on webhook_messages (next_attempt_at) where status = 'pending'`.execute(
    db,
  );
  // A client's delivery log, newest first, and one endpoint's.
  await sql`create index webhook_messages_client_idx on webhook_messages (client, created_at, id)`.execute(
    db,
  );
  await sql`create index webhook_messages_endpoint_idx on webhook_messages (endpoint_id, created_at, id)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table webhook_messages`.execute(db);
  await sql`drop table webhook_endpoints`.execute(db);
}
