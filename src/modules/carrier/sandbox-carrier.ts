import { CompiledQuery, type Kysely, sql } from 'kysely';
import { type DB, preparedStatement } from '../../db/database.js';
import { createBatcher } from '../../shared/batcher.js';
import type { Carrier, RefusalCode, Reversal, SendOutcome, StatusOutcome, TopUp } from './carrier.port.js';
import { hasSpecialEnding, type SendAction, sendAction, statusFromRecord } from './sandbox-rules.js';

/** One credit, as GET /SandboxCarrier/TopUps shows it. */
export type SandboxTopUp = {
  reference: string;
  phone_number: string;
  value_cents: number;
  credited_at: Date;
  reversed_at: Date | null;
};

/**
 * The sandbox carrier (docs/api.md): its table of endings, with its books in the service's database but in
 * tables of its own, so that what it credited survives a crash of the service as a real carrier's would.
 * It credits every send it decides to credit: it does not deduplicate references, so a second credit
 * would show if the dispatcher ever sent a reference twice. A lost answer or a timeout is simulated at
 * once (`unknown`), not by waiting out CARRIER_TIMEOUT_MS.
 *
 * Sends that arrive together share statements: the plain numbers cost one insert per batch.
 */
export type SandboxCarrier = Carrier & { topUps(reference: string): Promise<SandboxTopUp[]> };

export function createSandboxCarrier(db: Kysely<DB>): SandboxCarrier {
  const send = createBatcher<TopUp, SendOutcome>(
    async (topUps) => {
      const outcomes = await sendBatch(db, topUps);
      return outcomes.map((value) => ({ status: 'fulfilled', value }));
    },
    { maxSize: 256, maxInFlight: 1 },
  );

  return {
    name: 'sandbox',
    send,

    async status(reference: string): Promise<StatusOutcome> {
      const { rows } = await sql<{
        credited_at: Date | null;
        reversed_at: Date | null;
        refusal: string | null;
        now: Date;
      }>`
        select credited_at, reversed_at, null as refusal, clock_timestamp() as now
        from sandbox_carrier_top_ups where reference = ${reference}
        union all
        select null, null, refusal, clock_timestamp() from sandbox_carrier_requests where reference = ${reference}
      `.execute(db);
      const credits = rows.flatMap((row) =>
        row.credited_at ? [{ creditedAt: row.credited_at, reversedAt: row.reversed_at }] : [],
      );
      const refusal = (rows.find((row) => row.refusal)?.refusal ?? null) as RefusalCode | null;
      return statusFromRecord({ credits, refusal }, rows[0]?.now ?? new Date());
    },

    async reversalsSince(since: Date, after?: string): Promise<Reversal[]> {
      const rows = await db
        .selectFrom('sandbox_carrier_top_ups')
        .select(['reference', 'reversed_at'])
        .where(
          after === undefined
            ? sql<boolean>`reversed_at >= ${since}`
            : sql<boolean>`(reversed_at, reference) > (${since}, ${after}::uuid)`,
        )
        .where('reversed_at', '<=', sql<Date>`clock_timestamp()`)
        .orderBy('reversed_at')
        .orderBy('reference')
        .limit(1000)
        .execute();
      return rows.map((row) => ({ reference: row.reference, reversedAt: row.reversed_at as Date }));
    },

    /** What it credited for a reference, as of now: a credit scheduled for later is not there yet. */
    async topUps(reference: string): Promise<SandboxTopUp[]> {
      return db
        .selectFrom('sandbox_carrier_top_ups')
        .select([
          'reference',
          'phone_number',
          'value_cents',
          'credited_at',
          sql<Date | null>`case when reversed_at <= clock_timestamp() then reversed_at end`.as('reversed_at'),
        ])
        .where('reference', '=', reference)
        .where('credited_at', '<=', sql<Date>`clock_timestamp()`)
        .orderBy('id')
        .execute();
    },

    async close() {},
  };
}

function refusalOf(action: SendAction) {
  return action.kind === 'refuse' ? action.code : null;
}

// $1 references, $2 the refusal each will get (or null): one row per send of a special number; answers
// the sends of each reference so far, this one included.
const COUNT_SENDS = `${preparedStatement('sandbox_count_sends')}
  insert into sandbox_carrier_requests (reference, sends, refusal)
  select reference, 1, refusal from unnest($1::uuid[], $2::text[]) as t(reference, refusal)
  on conflict (reference) do update set sends = sandbox_carrier_requests.sends + 1
  returning reference, sends`;

// $1 references, $2 phone numbers, $3 values, $4 ms until credited, $5 ms from credit to reversal (null: none).
const CREDIT = `${preparedStatement('sandbox_credit')}
  insert into sandbox_carrier_top_ups (reference, phone_number, value_cents, credited_at, reversed_at)
  select reference, phone_number, value_cents, credited_at,
         credited_at + make_interval(secs => reverse_after_ms / 1000.0)
  from (
    select reference, phone_number, value_cents, reverse_after_ms,
           statement_timestamp() + make_interval(secs => credit_after_ms / 1000.0) as credited_at
    from unnest($1::uuid[], $2::text[], $3::integer[], $4::integer[], $5::integer[])
      as t(reference, phone_number, value_cents, credit_after_ms, reverse_after_ms)
  ) credits`;

async function sendBatch(db: Kysely<DB>, topUps: TopUp[]): Promise<SendOutcome[]> {
  const special = topUps.filter((topUp) => hasSpecialEnding(topUp.phoneNumber));
  const previousSends = new Map<string, number>();
  if (special.length > 0) {
    const { rows } = await db.executeQuery<{ reference: string; sends: number }>(
      CompiledQuery.raw(COUNT_SENDS, [
        special.map((topUp) => topUp.reference),
        special.map((topUp) => refusalOf(sendAction(topUp.phoneNumber, 0))),
      ]),
    );
    for (const row of rows) previousSends.set(row.reference, row.sends - 1);
  }
  const actions = topUps.map((topUp) =>
    sendAction(topUp.phoneNumber, previousSends.get(topUp.reference) ?? 0),
  );
  const credits = topUps.flatMap((topUp, index) => {
    const action = actions[index] as SendAction;
    return action.kind === 'credit' ? [{ topUp, action }] : [];
  });
  if (credits.length > 0) {
    await db.executeQuery(
      CompiledQuery.raw(CREDIT, [
        credits.map(({ topUp }) => topUp.reference),
        credits.map(({ topUp }) => topUp.phoneNumber),
        credits.map(({ topUp }) => topUp.valueCents),
        credits.map(({ action }) => action.creditAfterMs),
        credits.map(({ action }) => action.reverseAfterMs ?? null),
      ]),
    );
  }
  return actions.map(outcomeOf);
}

function outcomeOf(action: SendAction): SendOutcome {
  switch (action.kind) {
    case 'refuse':
      return { kind: 'refused', code: action.code };
    case 'unavailable':
      return { kind: 'transient' };
    case 'drop':
      return { kind: 'unknown' };
    case 'credit':
      if (action.answer === 'lost') return { kind: 'unknown' };
      return { kind: action.answer };
  }
}
