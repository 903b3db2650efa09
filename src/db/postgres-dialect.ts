import { PostgresDialect } from 'kysely';
import pg from 'pg';
import { unavailable } from '../shared/errors.js';
import type { DatabaseOptions } from './database.js';
import { sqlStateOf } from './sql-state.js';

// Together under the 5 s of docs/api.md (Errors): a request that needs an unreachable or hung PostgreSQL
// answers 503 in time.
export const CONNECT_TIMEOUT_MS = 2000;
const STATEMENT_TIMEOUT_MS = 2500;
const QUERY_TIMEOUT_MS = 2800;

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

export function createPool(options: DatabaseOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // A hung statement must not hold a request (and a pool slot) forever.
    ...(options.timeouts === false
      ? {}
      : { statement_timeout: STATEMENT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS }),
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle client that loses its server emits 'error'; the pool drops it, and the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

export function postgresDialect(pool: pg.Pool) {
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
