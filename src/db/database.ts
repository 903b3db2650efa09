import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { type ColumnType, Kysely, type LogEvent, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { unavailable } from '../shared/errors.js';
import { listenOn } from './listen.js';
import { PGliteDialect } from './pglite-dialect.js';
import { sqlStateOf } from './sql-state.js';

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
  /** Called with every statement sent to the database (BEGIN and COMMIT included): tests count round trips. */
  onQuery?: (sql: string, parameters: readonly unknown[]) => void;
};

// Together under SPEC's 5 s: a request that needs an unreachable or hung PostgreSQL answers 503 in time.
export const CONNECT_TIMEOUT_MS = 2000;
const STATEMENT_TIMEOUT_MS = 2500;
const QUERY_TIMEOUT_MS = 2800;

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  const pool = options.url ? createPool(options) : undefined;
  const log = options.onQuery
    ? (event: LogEvent) => {
        if (event.level === 'query') options.onQuery?.(event.query.sql, event.query.parameters);
      }
    : undefined;
  const dialect = pool ? postgresDialect(pool) : await pgliteDialect(options);
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
    close: () => db.destroy(),
  };
}

// `/* prepared:<name> */` at the start of a statement's text (see preparedStatement).
const PREPARED = /^\/\* prepared:([a-z_]+) \*\//;

/**
 * Starts a hot statement's SQL so that, on PostgreSQL, each connection parses and plans it once and
 * executes it by name afterwards (pg's named statements; after five runs PostgreSQL may keep one generic
 * plan). Planning the recharge insert cost more than running it (docs/performance.md). The statement's
 * text must never change for a given name; PGlite reads the marker as a comment.
 */
export function preparedStatement(name: string): string {
  if (!/^[a-z_]+$/.test(name)) throw new Error(`bad prepared statement name ${name}`);
  return `/* prepared:${name} */`;
}

function createPool(options: DatabaseOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // A hung statement must not hold a request (and a pool slot) forever.
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle client that loses its server emits 'error'; the pool drops it, and the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

function postgresDialect(pool: pg.Pool) {
  return new PostgresDialect({
    pool: {
      async connect() {
        const client = await pool.connect().catch((error: unknown) => {
          throw unavailable(error);
        });
        // A lost socket fails the running query and is also emitted as 'error' on the client; pg-pool
        // listens only while the client is idle, so a checked-out one would crash the process.
        const ignoreError = () => {};
        client.on('error', ignoreError);
        // After a driver timeout the client still waits for its answer, and would hold back every later
        // query given to it: a client that failed this way is closed, not pooled again.
        let isBroken = false;
        return {
          query: (async (text: string, values: unknown[]) => {
            const name = PREPARED.exec(text)?.[1];
            try {
              return await (name ? client.query({ name, text, values }) : client.query(text, values));
            } catch (error) {
              if (!isConnectionFailure(error)) throw error;
              isBroken = true;
              throw unavailable(error);
            }
          }) as typeof client.query,
          release: (destroy?: boolean) => {
            client.off('error', ignoreError);
            client.release(destroy || isBroken);
          },
        };
      },
      end: () => pool.end(),
    },
  });
}

// SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown, cannot connect
// now); errors without a SQLSTATE come from the socket or the driver's own timeouts.
export function isConnectionFailure(error: unknown): boolean {
  const code = sqlStateOf(error);
  if (code === undefined) return true;
  // 57014: cancelled by statement_timeout, the server is too slow or a lock is held too long to wait out.
  return code.startsWith('08') || code.startsWith('57P') || code === '57014';
}

async function pgliteDialect(options: DatabaseOptions) {
  const dataDir = options.dataDir ?? 'memory://';
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  return new PGliteDialect(await PGlite.create(dataDir));
}
