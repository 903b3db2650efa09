import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { type ColumnType, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { unavailable } from '../shared/errors.js';
import { PGliteDialect } from './pglite-dialect.js';

export interface CompaniesTable {
  company_id: string;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
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
  companies: CompaniesTable;
  products: ProductsTable;
  recharges: RechargesTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  idempotency_keys: IdempotencyKeysTable;
}

export type Database = {
  db: Kysely<DB>;
  kind: 'pglite' | 'postgres';
  /** Answers whether the database takes a query right now, for /readyz. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** postgres:// URL; without it the embedded PGlite is used. */
  url?: string | undefined;
  /** PGlite data directory, or 'memory://' for a throw-away database. */
  dataDir?: string;
  /** Real PostgreSQL only: the schema to work in (tests give each file its own). */
  schema?: string;
  poolSize?: number;
};

// Together under SPEC's 5 s: a request that needs an unreachable or hung PostgreSQL answers 503 in time.
const CONNECT_TIMEOUT_MS = 2000;
const STATEMENT_TIMEOUT_MS = 2500;
const QUERY_TIMEOUT_MS = 2800;

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  const db = options.url
    ? new Kysely<DB>({ dialect: postgresDialect(options) })
    : await pgliteKysely(options);
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
    close: () => db.destroy(),
  };
}

function postgresDialect(options: DatabaseOptions) {
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
  return new PostgresDialect({
    pool: {
      async connect() {
        const client = await pool.connect().catch((error: unknown) => {
          throw unavailable(error);
        });
        return {
          query: (async (text: string, values: unknown[]) => {
            try {
              return await client.query(text, values);
            } catch (error) {
              throw isConnectionFailure(error) ? unavailable(error) : error;
            }
          }) as typeof client.query,
          release: (destroy?: boolean) => client.release(destroy),
        };
      },
      end: () => pool.end(),
    },
  });
}

// SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown, cannot connect
// now); errors without a SQLSTATE come from the socket or the driver's own timeouts.
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  // 57014: cancelled by statement_timeout, the server is too slow or a lock is held too long to wait out.
  return code.startsWith('08') || code.startsWith('57P') || code === '57014';
}

async function pgliteKysely(options: DatabaseOptions) {
  const dataDir = options.dataDir ?? 'memory://';
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir);
  return new Kysely<DB>({ dialect: new PGliteDialect(client) });
}
