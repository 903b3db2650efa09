import { CompiledQuery } from 'kysely';
import { type FailureCode, preparedStatement, type RechargeStatus } from '../../db/database.js';
import type { IdempotencyClaim, NewRecharge } from './recharges.repository.js';

/** One recharge to insert, with its key if it has one. */
export type PricedItem = { recharge: NewRecharge; claim: IdempotencyClaim | undefined };

/** The priced insert's answer for one recharge; `existing_*` is the recharge its key is bound to. */
export type PricedRow = {
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

/** The priced insert of `items`, one answer row each (PricedRow); it NOTIFYs `notifyChannel` when it stores any. */
export function pricedInsertQuery(items: PricedItem[], notifyChannel: string | null) {
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
  return CompiledQuery.raw(PRICED_INSERT, parameters);
}
