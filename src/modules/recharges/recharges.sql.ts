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
  /** Why the account refused it; `after_refusal`: an earlier recharge of the statement was refused. */
  refusal: AccountRefusal | 'after_refusal' | null;
  /** With phone_recently_recharged: seconds until the number may be recharged again. */
  retry_after: number | null;
};

export type AccountRefusal = 'insufficient_funds' | 'daily_limit_exceeded' | 'phone_recently_recharged';

// One statement, one round trip, one transaction: the function (migrations 0007 and 0010) locks the accounts, checks
// catalog, funds and limits, and stores the recharges, their keys, debits and day totals. Its text never
// changes (a prepared statement's must not). One element of each array per recharge, in order: $1 key,
// $2 client, $3 company_id, $4 product_id, $5 id, $6 phone_number, $7 value_cents, $8 fingerprint; $9 the
// channel to NOTIFY (null: none); one answer row per recharge, in the same order.
const PRICED_INSERT = `${preparedStatement('recharges_priced_insert')}
    select * from recharges_priced_insert($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[],
                                          $6::text[], $7::integer[], $8::text[], $9::text)`;

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
