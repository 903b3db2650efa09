import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { DB, FailureCode, RechargeStatus, WebhookMessageStatus } from '../../db/database.js';
import type { RechargeRecord } from '../recharges/index.js';

/** A message the engine claimed, with what it needs to send it. */
export type ClaimedMessage = {
  id: string;
  endpoint_id: string;
  url: string;
  secret: string;
  /** Secrets rotated out less than a day ago: they sign beside `secret`. */
  previous_secrets: string[];
  type: string;
  attempts: number;
  created_at: Date;
  recharge: RechargeRecord;
};

/** What came of one attempt. */
export type AttemptOutcome = {
  id: string;
  /** The attempt number it was claimed with: an attempt that lost its lease records nothing. */
  attempts: number;
  status: WebhookMessageStatus;
  responseStatus: number | null;
  /** With status pending: when to try again. */
  retryInMs: number | null;
  /** A 410: the endpoint is disabled. */
  disableEndpoint: boolean;
};

// Claims due messages of active endpoints and leases them: the lease runs out after one attempt's timeout and
// a margin, and the message is due again, so an engine that dies mid-attempt is followed by another attempt.
// An endpoint gets no more than $5 in flight on this instance, counting the $4 attempts it already has there
// ($3 their endpoints); $6 are those already at $5, whose messages are not even ranked. The locking query
// checks again that each message is still pending and due: another instance's claim may have committed
// since this statement's snapshot, and a row it leased must be skipped, not leased twice. $1 how many, $2
// the lease in ms.
const CLAIM = `
  with in_flight as (
    select * from unnest($3::text[], $4::integer[]) as f(endpoint_id, attempts)
  ), ranked as (
    select m.id, m.next_attempt_at,
           coalesce(f.attempts, 0)
             + row_number() over (partition by m.endpoint_id order by m.next_attempt_at) as rank
    from webhook_messages m
    join webhook_endpoints e on e.id = m.endpoint_id and e.status = 'active'
    left join in_flight f on f.endpoint_id = m.endpoint_id
    where m.status = 'pending' and m.next_attempt_at <= statement_timestamp()
      and m.endpoint_id <> all($6::text[])
  ), due as (
    select m.id from webhook_messages m
    where m.id in (select id from ranked where rank <= $5 order by next_attempt_at limit $1)
      and m.status = 'pending' and m.next_attempt_at <= statement_timestamp()
    for update skip locked
  )
  update webhook_messages m set
    attempts = m.attempts + 1,
    next_attempt_at = statement_timestamp() + make_interval(secs => $2::integer / 1000.0)
  from due, webhook_endpoints e, recharges r
  where m.id = due.id and e.id = m.endpoint_id and r.id = m.recharge_id
  returning m.id, m.endpoint_id, e.url, e.secret,
            array(select p->>'secret' from jsonb_array_elements(e.previous_secrets) p
                  where (p->>'until')::timestamptz > statement_timestamp()
                  union
                  select e.previous_secret where e.previous_secret_until > statement_timestamp()) as previous_secrets,
            m.type, m.attempts, m.created_at,
            r.id as recharge_id, r.created_at as recharge_created_at, r.company_id, r.product_id, r.phone_number,
            r.value_cents, m.recharge_status, m.recharge_updated_at, m.recharge_failure_code`;

/** The delivery engine's statements: claiming due messages, recording attempts, and the backlog. */
export function createDeliveryRepository(db: Kysely<DB>) {
  return {
    /** `inFlight`: this instance's attempts in flight, by endpoint id. */
    async claim(
      limit: number,
      leaseMs: number,
      inFlight: ReadonlyMap<string, number>,
      perEndpoint: number,
    ): Promise<ClaimedMessage[]> {
      const { rows } = await db.executeQuery<Record<string, unknown>>(
        CompiledQuery.raw(CLAIM, [
          limit,
          leaseMs,
          [...inFlight.keys()],
          [...inFlight.values()],
          perEndpoint,
          [...inFlight].flatMap(([endpoint, attempts]) => (attempts >= perEndpoint ? [endpoint] : [])),
        ]),
      );
      return rows.map((row) => ({
        id: row.id as string,
        endpoint_id: row.endpoint_id as string,
        url: row.url as string,
        secret: row.secret as string,
        previous_secrets: row.previous_secrets as string[],
        type: row.type as string,
        attempts: row.attempts as number,
        created_at: row.created_at as Date,
        recharge: {
          id: row.recharge_id as string,
          created_at: row.recharge_created_at as Date,
          company_id: row.company_id as string,
          product_id: row.product_id as string,
          phone_number: row.phone_number as string,
          value_cents: row.value_cents as number,
          status: row.recharge_status as RechargeStatus,
          updated_at: row.recharge_updated_at as Date,
          failure_code: (row.recharge_failure_code as FailureCode | null) ?? null,
        },
      }));
    },

    /** Pending messages, those already due, and how long the oldest due one has waited (every instance's). */
    async backlog(): Promise<{ pending: number; due: number; oldest_due_age_seconds: number }> {
      const { rows } = await sql<{ pending: number; due: number; oldest_due_age_seconds: number | null }>`
        select count(*)::int as pending,
               (count(*) filter (where next_attempt_at <= statement_timestamp()))::int as due,
               extract(epoch from statement_timestamp()
                 - min(next_attempt_at) filter (where next_attempt_at <= statement_timestamp()))::float8
                 as oldest_due_age_seconds
        from webhook_messages where status = 'pending'`.execute(db);
      const row = rows[0];
      return {
        pending: row?.pending ?? 0,
        due: row?.due ?? 0,
        oldest_due_age_seconds: row?.oldest_due_age_seconds ?? 0,
      };
    },

    /** Records attempts whose lease still holds; a 410 disables its endpoint in the same statement. */
    async record(outcomes: AttemptOutcome[]): Promise<void> {
      if (outcomes.length === 0) return;
      await sql`
        with t as (
          select * from unnest(${outcomes.map((o) => o.id)}::text[], ${outcomes.map((o) => o.attempts)}::integer[],
                               ${outcomes.map((o) => o.status)}::text[], ${outcomes.map((o) => o.responseStatus)}::integer[],
                               ${outcomes.map((o) => o.retryInMs)}::integer[], ${outcomes.map((o) => o.disableEndpoint)}::boolean[])
            as t(id, attempts, status, response_status, retry_in_ms, disable_endpoint)
        ), recorded as (
          update webhook_messages m set
            status = t.status,
            last_response_status = t.response_status,
            next_attempt_at = case when t.status = 'pending'
                              then statement_timestamp() + make_interval(secs => t.retry_in_ms / 1000.0) end
          from t
          where m.id = t.id and m.attempts = t.attempts and m.status = 'pending'
          returning m.endpoint_id, t.disable_endpoint
        )
        update webhook_endpoints e set status = 'disabled', updated_at = statement_timestamp()
        from (select distinct endpoint_id from recorded where disable_endpoint) d
        where e.id = d.endpoint_id`.execute(db);
    },
  };
}

export type DeliveryRepository = ReturnType<typeof createDeliveryRepository>;
