import { type Kysely, sql } from 'kysely';
import type { DB, LedgerEntryType } from '../../db/database.js';
import { sqlStateOf } from '../../db/sql-state.js';

export type AccountLimits = {
  /** null: no limit (the bootstrap admin's account, or one an operator chose to leave unlimited). */
  credit_limit_cents: number | null;
  daily_value_cents: number | null;
  daily_count: number | null;
  same_phone_cooldown_seconds: number;
};

export type AccountRecord = AccountLimits & {
  client: string;
  balance_cents: number;
  pending_cents: number;
  updated_at: Date;
};

export type EntryRecord = {
  id: string;
  client: string;
  type: LedgerEntryType;
  amount_cents: number;
  balance_after_cents: number;
  recharge_id: string | null;
  note: string | null;
  created_at: Date;
};

/** What one entry on an account did: the entry, or why there was none. */
export type EntryOutcome =
  | { outcome: 'entered'; entry: EntryRecord }
  | { outcome: 'no_account' }
  | { outcome: 'below_credit_limit' };

const CHECK_VIOLATION = '23514';

// bigint columns come back as text from pg; cents stay far below 2^53, so float8 carries them exactly.
const ACCOUNT = sql`
  a.client, a.balance_cents::float8 as balance_cents, a.credit_limit_cents::float8 as credit_limit_cents,
  a.daily_value_cents::float8 as daily_value_cents, a.daily_count, a.same_phone_cooldown_seconds,
  a.updated_at,
  -- The unfinished recharges are few, and the dispatcher's partial index holds exactly them.
  (select coalesce(sum(r.value_cents), 0)::float8 from recharges r
   where r.client = a.client and r.status in ('pending', 'processing')) as pending_cents`;

const ENTRY = sql`
  e.id::text as id, e.client, e.type, e.amount_cents::float8 as amount_cents,
  e.balance_after_cents::float8 as balance_after_cents, e.recharge_id, e.note, e.created_at`;

export function createAccountRepository(db: Kysely<DB>) {
  return {
    async find(client: string): Promise<AccountRecord | null> {
      const { rows } =
        await sql<AccountRecord>`select ${ACCOUNT} from accounts a where a.client = ${client}`.execute(db);
      return rows[0] ?? null;
    },

    async list(): Promise<AccountRecord[]> {
      const { rows } =
        await sql<AccountRecord>`select ${ACCOUNT} from accounts a order by a.client collate "C"`.execute(db);
      return rows;
    },

    /** Sets an account's limits; the account before and after, or null when there is none. */
    async setLimits(
      client: string,
      limits: AccountLimits,
    ): Promise<{ before: AccountRecord; after: AccountRecord } | null> {
      const { rows } = await sql<AccountRecord>`
        select ${ACCOUNT} from accounts a where a.client = ${client} for update`.execute(db);
      const before = rows[0];
      if (!before) return null;
      await db
        .updateTable('accounts')
        .set({ ...limits, updated_at: sql<Date>`statement_timestamp()` })
        .where('client', '=', client)
        .execute();
      const after = await this.find(client);
      return after && { before, after };
    },

    /**
     * Adds a deposit or an adjustment to an account's balance and enters it, with the balance after. The
     * account row's trigger refuses a fall below the credit limit.
     */
    async enter(client: string, type: LedgerEntryType, amountCents: number, note: string | null) {
      let balanceAfter: number | undefined;
      try {
        const { rows } = await sql<{ balance_cents: number }>`
          update accounts set balance_cents = balance_cents + ${amountCents},
                              updated_at = statement_timestamp()
          where client = ${client}
          returning balance_cents::float8 as balance_cents`.execute(db);
        balanceAfter = rows[0]?.balance_cents;
      } catch (error) {
        if (sqlStateOf(error) === CHECK_VIOLATION) return { outcome: 'below_credit_limit' } as const;
        throw error;
      }
      if (balanceAfter === undefined) return { outcome: 'no_account' } as const;
      const { rows } = await sql<EntryRecord>`
        insert into ledger_entries as e (client, type, amount_cents, balance_after_cents, note)
        values (${client}, ${type}, ${amountCents}, ${balanceAfter}, ${note})
        returning ${ENTRY}`.execute(db);
      return { outcome: 'entered', entry: rows[0] as EntryRecord } as const satisfies EntryOutcome;
    },

    /** Newest first; `client` null: every client's. Keyset-paginated on the identity column. */
    async listEntries(client: string | null, limit: number, beforeId?: string): Promise<EntryRecord[]> {
      const { rows } = await sql<EntryRecord>`
        select ${ENTRY} from ledger_entries e
        where (${client}::text is null or e.client = ${client})
          and (${beforeId ?? null}::bigint is null or e.id < ${beforeId ?? null}::bigint)
        order by e.id desc
        limit ${limit}`.execute(db);
      return rows;
    },

    /**
     * Takes the (client, key) pair of a POST /LedgerEntries for the rest of the transaction; false when a
     * request with the same pair holds it.
     */
    async tryLockKey(client: string, key: string): Promise<boolean> {
      const { rows } = await sql<{ acquired: boolean }>`
        select pg_try_advisory_xact_lock(hashtextextended('ledger' || chr(10) || ${client} || chr(10) || ${key}, 0))
          as acquired`.execute(db);
      return rows[0]?.acquired === true;
    },

    /** The entry a key is bound to, with the fingerprint of the request that bound it. */
    async findByKey(
      client: string,
      key: string,
    ): Promise<{ fingerprint: string; entry: EntryRecord } | null> {
      const { rows } = await sql<EntryRecord & { fingerprint: string }>`
        select k.fingerprint, ${ENTRY}
        from ledger_idempotency_keys k join ledger_entries e on e.id = k.entry_id
        where k.client = ${client} and k.key = ${key}`.execute(db);
      const row = rows[0];
      if (!row) return null;
      const { fingerprint, ...entry } = row;
      return { fingerprint, entry };
    },

    async bindKey(client: string, key: string, fingerprint: string, entryId: string): Promise<void> {
      await sql`
        insert into ledger_idempotency_keys (client, key, fingerprint, entry_id, created_at)
        values (${client}, ${key}, ${fingerprint}, ${entryId}::bigint, statement_timestamp())`.execute(db);
    },

    /** Forgets keys older than the retention; their entries stay. */
    async purgeKeys(olderThan: Date): Promise<number> {
      const result = await db
        .deleteFrom('ledger_idempotency_keys')
        .where('created_at', '<', olderThan)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type AccountRepository = ReturnType<typeof createAccountRepository>;
