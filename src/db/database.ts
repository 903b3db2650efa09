import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { type ColumnType, Kysely, type LogEvent, sql } from 'kysely';
import { lockDataDir } from './data-dir-lock.js';
import { listenOn } from './listen.js';
import { PGliteDialect } from './pglite-dialect.js';
import { createPool, postgresDialect } from './postgres-dialect.js';

export { CONNECT_TIMEOUT_MS, isConnectionFailure, preparedStatement } from './postgres-dialect.js';

export interface CompaniesTable {
  company_id: string;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
  /** catalog_state.version at this company's last write. */
  version: ColumnType<string, string | undefined, string>;
}

export interface CatalogStateTable {
  id: number;
  version: ColumnType<string, never, string>;
}

export interface ProductsTable {
  company_id: string;
  product_id: string;
  value_cents: number;
}

export interface RechargesTable {
  id: string;
  created_at: Date;
  company_id: string;
  product_id: string;
  phone_number: string;
  value_cents: number;
  /** The client (tenant) of the API key that made it. */
  client: string;
  status: RechargeStatus;
  updated_at: Date;
  failure_code: FailureCode | null;
  attempts: ColumnType<number, number | undefined, number>;
  next_step: 'send' | 'query' | null;
  next_attempt_at: Date | null;
  claims: ColumnType<number, number | undefined, number>;
}

export type RechargeStatus = 'pending' | 'processing' | 'completed' | 'failed' | 'reversed';
export type FailureCode =
  | 'invalid_number'
  | 'barred_number'
  | 'carrier_declined'
  | 'carrier_unavailable'
  | 'carrier_reversed';

export interface SandboxCarrierTopUpsTable {
  id: ColumnType<string, never, never>;
  reference: string;
  phone_number: string;
  value_cents: number;
  credited_at: Date;
  reversed_at: Date | null;
}

export interface SandboxCarrierRequestsTable {
  reference: string;
  sends: number;
  refusal: string | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  client: string;
  scopes: string[];
  key_hash: Uint8Array;
  created_at: ColumnType<Date, never, never>;
  created_by: string | null;
  revoked_at: ColumnType<Date | null, never, Date>;
}

export interface AuditEventsTable {
  id: ColumnType<string, never, never>;
  occurred_at: ColumnType<Date, never, never>;
  actor_key_id: string;
  actor_client: string;
  action: string;
  target: string;
  before: ColumnType<unknown, string | null, never>;
  after: ColumnType<unknown, string | null, never>;
}

export interface IdempotencyKeysTable {
  client: string;
  key: string;
  fingerprint: string;
  recharge_id: string;
  created_at: Date;
}

export interface AccountsTable {
  client: string;
  balance_cents: ColumnType<string, never, never>;
  /** null: no limit. */
  credit_limit_cents: ColumnType<string | null, number | null | undefined, number | null>;
  daily_value_cents: ColumnType<string | null, number | null | undefined, number | null>;
  daily_count: number | null;
  same_phone_cooldown_seconds: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export type LedgerEntryType = 'deposit' | 'adjustment' | 'recharge' | 'refund';

export interface LedgerEntriesTable {
  id: ColumnType<string, never, never>;
  client: string;
  type: LedgerEntryType;
  amount_cents: ColumnType<string, number, never>;
  balance_after_cents: ColumnType<string, number, never>;
  recharge_id: string | null;
  note: string | null;
  created_at: ColumnType<Date, never, never>;
}

export interface WebhookEndpointsTable {
  id: string;
  client: string;
  url: string;
  events: string[];
  status: 'active' | 'disabled';
  secret: string;
  /** The latest secret rotated out, for a revision from before `previous_secrets`. */
  previous_secret: string | null;
  previous_secret_until: Date | null;
  /** Every secret rotated out that still signs, each with the instant it stops (migration 0011). */
  previous_secrets: ColumnType<
    { secret: string; until: string }[],
    never,
    { secret: string; until: string }[]
  >;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export type WebhookMessageStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookMessagesTable {
  id: string;
  endpoint_id: string;
  client: string;
  type: string;
  recharge_id: string;
  recharge_status: RechargeStatus;
  recharge_updated_at: Date;
  recharge_failure_code: FailureCode | null;
  status: WebhookMessageStatus;
  attempts: ColumnType<number, number | undefined, number>;
  last_response_status: number | null;
  next_attempt_at: Date | null;
  created_at: ColumnType<Date, never, never>;
}

export interface DB {
  catalog_state: CatalogStateTable;
  companies: CompaniesTable;
  products: ProductsTable;
  recharges: RechargesTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  sandbox_carrier_top_ups: SandboxCarrierTopUpsTable;
  sandbox_carrier_requests: SandboxCarrierRequestsTable;
  carrier_feed_cursors: { carrier: string; seen_until: Date };
  accounts: AccountsTable;
  ledger_entries: LedgerEntriesTable;
  account_days: { client: string; day: string; value_cents: string; count: number };
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  ledger_idempotency_keys: {
    client: string;
    key: string;
    fingerprint: string;
    entry_id: string;
    created_at: Date;
  };
}

export type Database = {
  db: Kysely<DB>;
  kind: 'pglite' | 'postgres';
  /** Answers whether the database takes a query right now, for /readyz. */
  ping(): Promise<boolean>;
  /** The pg pool's connections (for /metrics); null on PGlite, which has no pool. */
  poolStats(): PoolStats | null;
  /**
   * Calls `onNotify` on every NOTIFY of `channel` from any process (LISTEN on a connection of its own).
   * PGlite lives in one process, which wakes its own listeners directly: there it does nothing.
   */
  listen(channel: string, onNotify: () => void): { close(): Promise<void> };
  close(): Promise<void>;
};

export type PoolStats = { total: number; idle: number; waiting: number };

export type DatabaseOptions = {
  /** postgres:// URL; without it the embedded PGlite is used. */
  url?: string | undefined;
  /** PGlite data directory, or 'memory://' for a throw-away database. */
  dataDir?: string;
  /** Real PostgreSQL only: the schema to work in (tests give each file its own). */
  schema?: string;
  poolSize?: number;
  /**
   * Real PostgreSQL only: false leaves out the statement and query timeouts that bound a request's wait
   * (postgres-dialect.ts), for migrations (migrate.ts).
   */
  timeouts?: boolean;
  /** Called with every statement sent to the database (BEGIN and COMMIT included): tests count round trips. */
  onQuery?: (sql: string, parameters: readonly unknown[]) => void;
};

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  const pool = options.url ? createPool(options) : undefined;
  const log = options.onQuery
    ? (event: LogEvent) => {
        if (event.level === 'query') options.onQuery?.(event.query.sql, event.query.parameters);
      }
    : undefined;
  const { dialect, release } = pool
    ? { dialect: postgresDialect(pool), release: async () => {} }
    : await pgliteDialect(options);
  const db = new Kysely<DB>({ dialect, ...(log ? { log } : {}) });
  return {
    db,
    kind: options.url ? 'postgres' : 'pglite',
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    poolStats: () =>
      pool ? { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount } : null,
    listen: (channel, onNotify) =>
      options.url ? listenOn(options.url, channel, onNotify) : { close: async () => {} },
    async close() {
      try {
        await db.destroy();
      } finally {
        await release();
      }
    },
  };
}

async function pgliteDialect(options: DatabaseOptions) {
  const dataDir = options.dataDir ?? 'memory://';
  if (dataDir.startsWith('memory://')) {
    return { dialect: new PGliteDialect(await PGlite.create(dataDir)), release: async () => {} };
  }
  await mkdir(dataDir, { recursive: true });
  const release = await lockDataDir(dataDir);
  try {
    return { dialect: new PGliteDialect(await PGlite.create(dataDir)), release };
  } catch (error) {
    await release();
    throw error;
  }
}
