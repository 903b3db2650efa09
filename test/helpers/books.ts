import { sql } from 'kysely';
import type { Database } from '../../src/db/database.js';

/** What the books of one client say, in cents, read straight from the tables. */
export async function booksOf(database: Database, client: string) {
  const { rows } = await sql<{
    balance: number;
    entries_sum: number;
    recharges: number;
    debits: number;
    refunds: number;
    debits_without_recharge: number;
    recharges_without_debit: number;
    refunds_owed: number;
    refunds_not_owed: number;
    lowest_balance_after: number | null;
    unfinished: number;
  }>`
    select
      (select balance_cents::float8 from accounts where client = ${client}) as balance,
      (select coalesce(sum(amount_cents), 0)::float8 from ledger_entries where client = ${client}) as entries_sum,
      (select count(*)::int from recharges where client = ${client}) as recharges,
      (select count(*)::int from ledger_entries where client = ${client} and type = 'recharge') as debits,
      (select count(*)::int from ledger_entries where client = ${client} and type = 'refund') as refunds,
      (select count(*)::int from ledger_entries e where e.client = ${client} and e.type = 'recharge'
         and not exists (select 1 from recharges r where r.id = e.recharge_id)) as debits_without_recharge,
      (select count(*)::int from recharges r where r.client = ${client}
         and (select count(*) from ledger_entries e where e.recharge_id = r.id and e.type = 'recharge') <> 1)
         as recharges_without_debit,
      (select count(*)::int from recharges r where r.client = ${client} and r.status in ('failed', 'reversed')
         and not exists (select 1 from ledger_entries e where e.recharge_id = r.id and e.type = 'refund'))
         as refunds_owed,
      (select count(*)::int from ledger_entries e join recharges r on r.id = e.recharge_id
         where e.client = ${client} and e.type = 'refund' and r.status not in ('failed', 'reversed'))
         as refunds_not_owed,
      (select min(balance_after_cents)::float8 from ledger_entries where client = ${client}) as lowest_balance_after,
      (select count(*)::int from recharges where client = ${client} and status in ('pending', 'processing'))
         as unfinished
  `.execute(database.db);
  return rows[0] as NonNullable<(typeof rows)[0]>;
}

/** Each entry's balance_after is the sum of the client's entries up to it, in id order. */
export async function runningBalancesHold(database: Database, client: string): Promise<boolean> {
  const { rows } = await sql<{ wrong: number }>`
    select count(*)::int as wrong from (
      select balance_after_cents, sum(amount_cents) over (order by id) as running
      from ledger_entries where client = ${client}
    ) e where balance_after_cents <> running`.execute(database.db);
  return rows[0]?.wrong === 0;
}
