/**
 * The webhook messages announcing recharges that have just become final, as a CTE to append to the
 * statement that records the move: the messages commit with the status, or neither does. `moved` names a
 * CTE of the moved recharges (id, client, status, updated_at, failure_code). Every endpoint of the
 * recharge's client that subscribes to the event gets one; a disabled endpoint's wait for it to be active
 * again.
 */
export function announceCte(moved: string): string {
  return `announced as (
      insert into webhook_messages (id, endpoint_id, client, type, recharge_id, recharge_status,
                                    recharge_updated_at, recharge_failure_code, status, next_attempt_at)
      select 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.id, m.client, 'phone_recharge.' || m.status,
             m.id, m.status, m.updated_at, m.failure_code, 'pending', statement_timestamp()
      from ${moved} m
      join webhook_endpoints e on e.client = m.client and ('phone_recharge.' || m.status) = any(e.events)
      where m.status in ('completed', 'failed', 'reversed')
    )`;
}
