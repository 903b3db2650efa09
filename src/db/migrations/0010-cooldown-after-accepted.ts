import { type Kysely, sql } from 'kysely';
import { PRICED_INSERT_FUNCTION as BEFORE } from './0007-priced-insert.js';

/**
 * The priced insert (migration 0007's function) with one change: a second recharge of one number by one
 * client in the same call waited the whole cooldown even when the first was refused (for funds, a daily
 * limit or its own cooldown), although the cooldown runs only from an accepted recharge. Such a repeat is
 * now refused as `after_refusal` unless the first was accepted, and the service tries it again alone.
 * And the day a recharge counts towards is that of its created_at as stored, rounded to the millisecond,
 * as the refund reads it: in the last half millisecond of a day the two could differ.
 * The rest of the function is as 0007 describes it. A change to it is a new migration; this text stays.
 */
export const PRICED_INSERT_FUNCTION = `
  create or replace function recharges_priced_insert(
    keys text[], clients text[], company_ids text[], product_ids text[], ids uuid[], phone_numbers text[],
    values_cents integer[], fingerprints text[], notify_channel text
  ) returns table (
    acquired boolean, notified boolean, company_exists boolean, product_value_cents integer,
    created_at timestamptz, refusal text, retry_after float8,
    existing_fingerprint text, existing_id uuid, existing_created_at timestamptz, existing_company_id text,
    existing_product_id text, existing_phone_number text, existing_value_cents integer, existing_status text,
    existing_updated_at timestamptz, existing_failure_code text
  ) language plpgsql as $$
  #variable_conflict use_column
  begin
    -- In client order, as every writer of accounts takes them, so that two calls never deadlock.
    perform 1 from accounts a where a.client = any(clients) order by a.client for update;
    return query
      with input as (
        select * from unnest(keys, clients, company_ids, product_ids, ids, phone_numbers,
                             values_cents, fingerprints)
          with ordinality as t(key, client, company_id, product_id, id, phone_number, value_cents,
                               fingerprint, ord)
      ), today as (
        -- The day of created_at as stored (to the millisecond), which is the day a refund takes back.
        select (statement_timestamp()::timestamptz(3) at time zone 'America/Sao_Paulo')::date as day
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
      ), account as (
        select a.client, a.balance_cents, a.credit_limit_cents, a.daily_value_cents, a.daily_count,
               a.same_phone_cooldown_seconds,
               coalesce(d.value_cents, 0) as day_value_cents, coalesce(d.count, 0) as day_count
        from accounts a
        cross join today
        left join account_days d on d.client = a.client and d.day = today.day
        where a.client in (select client from input)
      ), cooled as (
        -- Seconds until the number may be recharged again by this client (null: it may now). A repeat of
        -- one number in one statement waits the whole cooldown if the first is accepted (see the refusal).
        select i.ord, i.client, i.value_cents,
               a.same_phone_cooldown_seconds <> 0
                 and row_number() over (partition by i.client, i.phone_number order by i.ord) > 1 as repeat,
               case when a.same_phone_cooldown_seconds = 0 then null
                    when row_number() over (partition by i.client, i.phone_number order by i.ord) > 1
                      then a.same_phone_cooldown_seconds::float8
                    else (select ceil(a.same_phone_cooldown_seconds
                                      - extract(epoch from statement_timestamp() - max(r.created_at)))::float8
                          from recharges r
                          where r.client = i.client and r.phone_number = i.phone_number
                            and r.created_at > statement_timestamp()
                                               - make_interval(secs => a.same_phone_cooldown_seconds))
               end as retry_after
        from input i
        join product p on p.ord = i.ord and p.value_cents = i.value_cents
        left join account a on a.client = i.client
      ), tried as (
        select c.ord, c.client, c.value_cents, a.balance_cents - sum(c.value_cents) over w as balance_after,
               -- A client without an account (there is none before its first key) cannot pay.
               a.client is not null and (a.credit_limit_cents is null
                 or a.balance_cents - sum(c.value_cents) over w >= -a.credit_limit_cents) as funded,
               (coalesce(a.daily_value_cents, 0) = 0
                 or a.day_value_cents + sum(c.value_cents) over w <= a.daily_value_cents)
               and (coalesce(a.daily_count, 0) = 0 or a.day_count + count(*) over w <= a.daily_count)
                 as within_day
        from cooled c left join account a on a.client = c.client
        where c.retry_after is null
        window w as (partition by c.client order by c.ord)
      ), accepted as (
        -- A refusal ends the client's run in this statement: the sums above counted it.
        select t.* from tried t
        where t.funded and t.within_day
          and not exists (select 1 from tried e
                          where e.client = t.client and e.ord < t.ord and not (e.funded and e.within_day))
      ), inserted as (
        -- Stored as pending and due at once: the row is the dispatcher's outbox (migration 0006).
        insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents, client,
                               status, updated_at, next_step, next_attempt_at)
        select i.id, statement_timestamp(), i.company_id, i.product_id, i.phone_number, a.value_cents,
               i.client, 'pending', statement_timestamp(), 'send', statement_timestamp()
        from input i join accepted a on a.ord = i.ord
        returning id, created_at
      ), keyed as (
        -- Runs although nothing reads it: PostgreSQL carries out every data-modifying CTE to completion.
        insert into idempotency_keys (client, key, fingerprint, recharge_id, created_at)
        select i.client, i.key, i.fingerprint, n.id, n.created_at
        from inserted n join input i on i.id = n.id
        where i.key is not null
      ), debited as (
        update accounts a set balance_cents = a.balance_cents - s.value_cents,
                              updated_at = statement_timestamp()
        from (select client, sum(value_cents) as value_cents from accepted group by client) s
        where a.client = s.client
      ), entered as (
        -- Reads the recharge rows it pays for, so a debit can only be written with its recharge.
        insert into ledger_entries (client, type, amount_cents, balance_after_cents, recharge_id)
        select a.client, 'recharge', -a.value_cents, a.balance_after, n.id
        from accepted a join input i on i.ord = a.ord join inserted n on n.id = i.id
        order by a.ord
      ), counted as (
        insert into account_days (client, day, value_cents, count)
        select client, today.day, sum(value_cents), count(*) from accepted cross join today
        group by client, today.day
        on conflict (client, day) do update set value_cents = account_days.value_cents + excluded.value_cents,
                                                count = account_days.count + excluded.count
      ), notified as (
        -- Delivered at commit, so a dispatcher that wakes finds the rows.
        select pg_notify(notify_channel, '') from (select 1 from inserted limit 1) stored where notify_channel is not null
      )
      select l.acquired, (select count(*) from notified) > 0 as notified,
             -- A priced product's company exists (a foreign key says so); only a refusal looks.
             p.ord is not null or exists (select 1 from companies c where c.company_id = i.company_id)
               as company_exists,
             p.value_cents as product_value_cents, n.created_at,
             case when n.id is not null or c.ord is null then null
                  -- A repeat waits the cooldown only behind an accepted recharge of its number; behind a
                  -- refused one it is tried alone, against what is stored.
                  when c.repeat and not exists (select 1 from accepted a join input j on j.ord = a.ord
                                                where j.client = i.client and j.phone_number = i.phone_number)
                    then 'after_refusal'
                  when c.retry_after is not null then 'phone_recently_recharged'
                  when not t.within_day then 'daily_limit_exceeded'
                  when not t.funded then 'insufficient_funds'
                  else 'after_refusal' end as refusal,
             greatest(c.retry_after, 1) as retry_after,
             e.fingerprint as existing_fingerprint, e.id as existing_id, e.created_at as existing_created_at,
             e.company_id as existing_company_id, e.product_id as existing_product_id,
             e.phone_number as existing_phone_number, e.value_cents as existing_value_cents,
             e.status as existing_status, e.updated_at as existing_updated_at,
             e.failure_code as existing_failure_code
      from input i
      join lock l on l.ord = i.ord
      left join existing e on e.ord = i.ord
      left join product p on p.ord = i.ord
      left join cooled c on c.ord = i.ord
      left join tried t on t.ord = i.ord
      left join inserted n on n.id = i.id
      order by i.ord;
  end $$`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(PRICED_INSERT_FUNCTION).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(BEFORE.replace('create function', 'create or replace function')).execute(db);
}
