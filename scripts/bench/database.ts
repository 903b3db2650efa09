/** Set-up: the run's own schema, the admin connection, and the checks that the service stored what it said. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cleanups } from './cleanup.js';
import { DATABASE_URL } from './config.js';
import { keysSent } from './load.js';

// One connection for the whole run, so its backend (which does the seeding) is alive at the end of each phase
// and its CPU time counts as PostgreSQL's; closed by the last cleanup, after the schema is dropped.
let adminClient: Promise<pg.Client> | undefined;

// A schema of its own keeps the bench's tables (and its million recharge rows) away from everything else.
export async function createSchema(): Promise<string> {
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create schema ${schema}`);
  cleanups.push(() => adminQuery(`drop schema if exists ${schema} cascade`).then(() => undefined));
  return schema;
}

export function withSearchPath(baseUrl: string, schema: string): string {
  const url = new URL(baseUrl);
  url.searchParams.delete('options');
  const options = `options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  url.search = [url.searchParams.toString(), options].filter(Boolean).join('&');
  return url.toString();
}

// The service reads only DATABASE_URL, so the schema must travel in it: make sure pg passes `options` on.
export async function describeDatabase(url: string, schema: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ search_path: string; version: string }>(
      "select current_setting('search_path') as search_path, current_setting('server_version') as version",
    );
    const row = rows[0];
    if (row?.search_path !== schema)
      throw new Error(`search_path is "${row?.search_path}", not "${schema}": pg ignored the URL's options`);
    const settings = await client.query<{ name: string; setting: string }>(
      `select name, current_setting(name) as setting from pg_settings
       where name in ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'work_mem',
                      'max_wal_size', 'checkpoint_timeout', 'autovacuum')
       order by name`,
    );
    return {
      version: row.version,
      settings: Object.fromEntries(settings.rows.map(({ name, setting }) => [name, setting])),
    };
  } finally {
    await client.end();
  }
}

export async function verifyServiceUsesSchema(schema: string): Promise<void> {
  const { rows } = await adminQuery(`select count(*)::int as n from ${schema}.companies`);
  if (!(Number(rows[0]?.n) >= 2)) throw new Error(`the service did not seed ${schema}.companies`);
}

export async function adminQuery(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  if (!adminClient) {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    adminClient = client.connect().then(() => client);
    cleanups.push(() => client.end());
  }
  return (await adminClient).query(text, values);
}

// Every 201 stored a row and bound its key; requests in flight when a run ended may have stored more. A
// replayed key would answer 201 without a row, so fewer keys than 201s means the keys were not unique.
export async function verifyRechargesStored(schema: string, postsMeasured: number) {
  const { rows } = await adminQuery(
    `select (select count(*)::int from ${schema}.recharges) as recharges,
            (select count(*)::int from ${schema}.idempotency_keys) as keys`,
  );
  const recharges = Number(rows[0]?.recharges);
  const keys = Number(rows[0]?.keys);
  if (!(keys >= postsMeasured))
    throw new Error(
      `${keys} idempotency keys stored, fewer than the ${postsMeasured} measured 201 responses`,
    );
  return {
    schema,
    rechargesStored: recharges,
    idempotencyKeysStored: keys,
    postsMeasured,
    idempotencyKeysSent: keysSent(),
  };
}
