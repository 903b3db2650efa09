import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, type LogEvent, sql } from 'kysely';
import { lockDataDir } from './data-dir-lock.js';
import { listenOn } from './listen.js';
import { PGliteDialect } from './pglite-dialect.js';
import { createPool, postgresDialect } from './postgres-dialect.js';
import type { DB } from './tables.js';

export { CONNECT_TIMEOUT_MS, isConnectionFailure, preparedStatement } from './postgres-dialect.js';
export type * from './tables.js';

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
