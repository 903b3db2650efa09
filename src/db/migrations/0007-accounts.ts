import { type Kysely, sql } from 'kysely';
import { PRICED_INSERT_FUNCTION } from './0007-priced-insert.js';

/**
 * Prepaid accounts and their ledger (docs/api.md, "Accounts"). Money is in integer cents; an account's
 * balance is the sum of its entries, kept on the account row so that a recharge reads one row, not the
 * history.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table accounts (
      client text primary key,
      balance_cents bigint not null default 0,
      -- null: no limit (the bootstrap admin's account).
      credit_limit_cents bigint default 0 check (credit_limit_cents >= 0),
      daily_value_cents bigint check (daily_value_cents >= 0),
      daily_count integer check (daily_count >= 0),
      same_phone_cooldown_seconds integer not null default 0 check (same_phone_cooldown_seconds >= 0),
      created_at timestamptz(3) not null default statement_timestamp(),
      updated_at timestamptz(3) not null default statement_timestamp()
    )
  `.execute(db);
  // Whatever writes the row, a debit never takes it below the credit limit. Lowering the limit of an
  // account already below it is allowed (it stops new debits); only a fall in the balance is refused.
  await sql`
    create function accounts_within_credit() returns trigger language plpgsql as $$
    begin
      if new.balance_cents < old.balance_cents and new.credit_limit_cents is not null
         and new.balance_cents < -new.credit_limit_cents then
        raise exception 'account % would fall below its credit limit', new.client
          using errcode = 'check_violation';
      end if;
      return new;
    end $$
  `.execute(db);
  await sql`
    create trigger accounts_within_credit before update of balance_cents on accounts
      for each row execute function accounts_within_credit()
  `.execute(db);

  await sql`
    create table ledger_entries (
      id bigint generated always as identity primary key,
      client text not null references accounts (client),
      type text not null,
      amount_cents bigint not null,
      balance_after_cents bigint not null,
      recharge_id uuid references recharges (id),
      note text,
      created_at timestamptz(3) not null default statement_timestamp(),
      constraint ledger_entries_kind check (
        (type = 'recharge' and amount_cents < 0 and recharge_id is not null)
        or (type = 'refund' and amount_cents > 0 and recharge_id is not null)
        or (type = 'deposit' and amount_cents > 0 and recharge_id is null)
        or (type = 'adjustment' and amount_cents <> 0 and recharge_id is null and note is not null))
    )
  `.execute(db);
  // A recharge is debited once and refunded at most once: the database refuses a second of either.
  await sql`create unique index ledger_entries_debit_idx on ledger_entries (recharge_id) where type = 'recharge'`.execute(
    db,
  );
  await sql`create unique index ledger_entries_refund_idx on ledger_entries (recharge_id) where type = 'refund'`.execute(
    db,
  );
  // A client's entries, newest first.
  await sql`create index ledger_entries_client_id_idx on ledger_entries (client, id)`.execute(db);
  await sql`
    create function ledger_entries_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'ledger_entries is append-only';
    end $$
  `.execute(db);
  await sql`
    create trigger ledger_entries_append_only before update or delete or truncate on ledger_entries
      for each statement execute function ledger_entries_append_only()
  `.execute(db);

  // The value and count of each client's accepted recharges per calendar day in America/Sao_Paulo, less the
  // refunded ones: the daily limits read one row instead of a day of recharges.
  await sql`
    create table account_days (
      client text not null references accounts (client),
      day date not null,
      value_cents bigint not null,
      count integer not null,
      primary key (client, day)
    )
  `.execute(db);

  // POST /LedgerEntries honours Idempotency-Key as recharges do.
  await sql`
    create table ledger_idempotency_keys (
      client text not null,
      key text not null,
      fingerprint text not null,
      entry_id bigint not null references ledger_entries (id),
      created_at timestamptz(3) not null,
      primary key (client, key)
    )
  `.execute(db);
  await sql`create index ledger_idempotency_keys_created_at_idx on ledger_idempotency_keys (created_at)`.execute(
    db,
  );

  await sql.raw(PRICED_INSERT_FUNCTION).execute(db);

  // The upgrade. The bootstrap admin's client has no limit. Every client that already had a key keeps
  // trading: it gets a credit limit equal to its busiest São Paulo day of the last 30 days (zero if it made
  // no recharge), so nothing it did yesterday is refused today, and nothing beyond that is handed out. A
  // day counts what the daily limits count: recharges that were neither failed nor reversed. Each grant is
  // in the audit trail, in cents as every change to an account is; the operator funds the account and
  // lowers the limit from there.
  await sql`insert into accounts (client, credit_limit_cents) values ('admin', null)`.execute(db);
  await sql`
    with clients as (
      select distinct client from api_keys where lower(client) <> 'admin'
    ), days as (
      select client, sum(value_cents) as value_cents
      from recharges
      where created_at > statement_timestamp() - interval '30 days' and status not in ('failed', 'reversed')
      group by client, (created_at at time zone 'America/Sao_Paulo')::date
    ), granted as (
      insert into accounts (client, credit_limit_cents)
      select c.client, coalesce((select max(d.value_cents) from days d where d.client = c.client), 0)
      from clients c
      returning client, credit_limit_cents
    )
    insert into audit_events (actor_key_id, actor_client, action, target, before, after)
    select 'migration', 'admin', 'account.upgrade', client, null,
           jsonb_build_object('credit_limit_cents', credit_limit_cents)
    from granted
  `.execute(db);
  // Today's recharges, made before the upgrade, count toward today's daily limits as later ones will.
  await sql`
    insert into account_days (client, day, value_cents, count)
    select r.client, (r.created_at at time zone 'America/Sao_Paulo')::date, sum(r.value_cents), count(*)
    from recharges r join accounts a on a.client = r.client
    where (r.created_at at time zone 'America/Sao_Paulo')::date
            = (statement_timestamp() at time zone 'America/Sao_Paulo')::date
      and r.status not in ('failed', 'reversed')
    group by 1, 2
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function recharges_priced_insert`.execute(db);
  await sql`drop table ledger_idempotency_keys`.execute(db);
  await sql`drop table account_days`.execute(db);
  await sql`drop table ledger_entries`.execute(db);
  await sql`drop function ledger_entries_append_only()`.execute(db);
  await sql`drop table accounts`.execute(db);
  await sql`drop function accounts_within_credit()`.execute(db);
}
