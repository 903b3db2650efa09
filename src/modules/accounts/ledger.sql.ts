/**
 * The refund of recharges that have just become failed or reversed, as CTEs to append to the statement
 * that records the move (so the refund commits with the status, or neither does). `moved` names a CTE
 * with the moved recharges' id, client, value_cents and created_at; `condition` picks the ones to refund.
 *
 * Only a recharge that was debited is refunded (one made before accounts existed was not), and the
 * ledger's unique index on refunds makes a second refund of one recharge fail the whole statement, not
 * pay twice. The account's day loses the recharge, so the daily limits count only what was not refunded.
 * The accounts are locked in client order, then updated, before the days and the entries: every writer
 * locks accounts in that order, and an account before its day.
 */
export function refundCtes(moved: string, condition: string): string {
  return `refundable as (
      select m.id, m.client, m.value_cents,
             (m.created_at at time zone 'America/Sao_Paulo')::date as day
      from ${moved} m
      where ${condition}
        and exists (select 1 from ledger_entries e where e.recharge_id = m.id and e.type = 'recharge')
    ), locked as (
      -- In client order, as the priced insert takes them: an update alone takes them in whatever order
      -- its plan meets them, and two writers taking two accounts in opposite orders deadlock.
      select a.client from accounts a
      where a.client in (select client from refundable)
      order by a.client
      for update
    ), credited as (
      update accounts a set balance_cents = a.balance_cents + s.value_cents,
                            updated_at = statement_timestamp()
      from (select client, sum(value_cents) as value_cents from refundable group by client) s
      where a.client = s.client and a.client in (select client from locked)
      returning a.client, a.balance_cents
    ), refunded as (
      -- The account row's new balance is after every refund of the statement; each entry's is that
      -- less the refunds entered after it.
      insert into ledger_entries (client, type, amount_cents, balance_after_cents, recharge_id)
      select f.client, 'refund', f.value_cents,
             c.balance_cents - coalesce(sum(f.value_cents) over (partition by f.client order by f.id
                                          rows between 1 following and unbounded following), 0),
             f.id
      from refundable f join credited c on c.client = f.client
      order by f.client, f.id
    ), uncounted as (
      -- Reads credited, so the account rows are locked before the day rows, in the order the priced
      -- insert takes them: the two never deadlock.
      update account_days d set value_cents = d.value_cents - s.value_cents, count = d.count - s.count
      from (select client, day, sum(value_cents) as value_cents, count(*)::integer as count
            from refundable where client in (select client from credited) group by client, day) s
      where d.client = s.client and d.day = s.day
    )`;
}
