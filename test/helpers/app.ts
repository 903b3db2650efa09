import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { InjectOptions, Response } from 'light-my-request';
import { type AppOverrides, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createTestDatabase, type DatabaseTarget, type TestDatabase } from './databases.js';

export type TestApp = {
  app: FastifyInstance;
  database: TestDatabase;
  /** Every JSON log line the app wrote so far. */
  logs(): Record<string, unknown>[];
  close(): Promise<void>;
};

/** The bootstrap admin key of every test app; `asAdmin` is its header. */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnopqrstuv';
export const asAdmin = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    SEED_DEMO_DATA: 'false',
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    // Parallel test files on two cores lag the event loop; the overload test sets its own threshold.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    // Recharges stay as stored unless a test dispatches them (the lifecycle tests turn it on).
    DISPATCHER: 'off',
    // The catalog version poll is a statement outside any request; the tests that count a request's
    // statements must not see it. Its own tests set an interval.
    CATALOG_VERSION_POLL_MS: '600000',
    ...env,
  });
}

/**
 * Tests about the contract send the admin key unless they name an Authorization header themselves;
 * `authorization: undefined` sends none. The auth hook itself is never bypassed.
 */
export function sendAdminKeyByDefault(app: FastifyInstance): FastifyInstance {
  const inject = app.inject.bind(app) as (options: InjectOptions) => Promise<Response>;
  const injectWithKey = (options: InjectOptions | string) => {
    const given = typeof options === 'string' ? { url: options } : options;
    const headers: Record<string, string> = { ...asAdmin };
    for (const [name, value] of Object.entries(given.headers ?? {})) {
      if (name.toLowerCase() === 'authorization') delete headers.authorization;
      if (value !== undefined) headers[name.toLowerCase()] = String(value);
    }
    return inject({ ...given, headers });
  };
  app.inject = injectWithKey as typeof app.inject;
  return app;
}

/** A stream to hand a logger, and every JSON line written to it so far. */
export function captureLogs(): { stream: PassThrough; logs: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  return { stream, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

export type TestAppOverrides = Pick<AppOverrides, 'resolve'> & {
  /** Sees every statement sent to the fresh database (not to one the caller gives). */
  onQuery?: (sql: string, parameters: readonly unknown[]) => void;
  /** Runs before the app is made ready: where a test adds routes or hooks of its own. */
  beforeReady?: (app: FastifyInstance) => void | Promise<void>;
};

/**
 * The production buildApp, ready, with its logs captured: on a fresh database of `target` that `close`
 * drops, or on a database the caller gives (another app's, or one reached through a proxy), which the
 * caller keeps and closes itself.
 */
export async function createTestApp(
  target: DatabaseTarget | TestDatabase,
  env: Record<string, string> = {},
  overrides: TestAppOverrides = {},
): Promise<TestApp> {
  const { onQuery, beforeReady, ...appOverrides } = overrides;
  const owned = typeof target === 'string';
  const database = owned ? await createTestDatabase(target, onQuery) : target;
  const { stream, logs } = captureLogs();
  const app = sendAdminKeyByDefault(
    await buildApp(testConfig(env), { database, logStream: stream, ...appOverrides }),
  );
  await beforeReady?.(app);
  await app.ready();
  return {
    app,
    database,
    logs,
    async close() {
      await app.close();
      if (owned) await database.close();
    },
  };
}

export const claro = {
  company_id: 'claro_11',
  products: [
    { id: 'claro_10', value: 10 },
    { id: 'claro_20', value: 20 },
  ],
};

export const tim = {
  company_id: 'tim_11',
  products: [
    { id: 'tim_10', value: 10 },
    { id: 'tim_20', value: 20 },
  ],
};

export const rechargeBody = {
  company_id: 'claro_11',
  product_id: 'claro_10',
  phone_number: '5511999999999',
  value: 10.0,
};

/** Sends a JSON body through the real HTTP stack (content type, parser, validation). */
export function postJson(
  app: FastifyInstance,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function putJson(
  app: FastifyInstance,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'PUT',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Deletes every catalog through the API, so the catalog cache hears of it as it would in production. */
export async function clearCatalog(app: FastifyInstance): Promise<void> {
  const catalogs = (
    await app.inject({ method: 'GET', url: '/CompanyProducts', headers: asAdmin })
  ).json() as {
    company_id: string;
  }[];
  for (const { company_id: companyId } of catalogs) {
    await app.inject({ method: 'DELETE', url: `/CompanyProducts?company_id=${companyId}`, headers: asAdmin });
  }
}

/** A key as POST /ApiKeys answers it (the plain key included), and the header that sends it. */
export type TestKey = {
  id: string;
  name: string;
  client: string;
  scopes: string[];
  created_at: string;
  key: string;
  headers: { authorization: string };
};

/**
 * Makes an API key through the admin API; with `deposit`, its client's account is funded by that much
 * (a new client's account starts empty, and a recharge of an empty account is refused).
 */
export async function createKey(
  app: FastifyInstance,
  input: { name: string; client?: string; scopes: string[]; deposit?: number },
): Promise<TestKey> {
  const { deposit, ...body } = input;
  const response = await postJson(app, '/ApiKeys', body, asAdmin);
  if (response.statusCode !== 201)
    throw new Error(`POST /ApiKeys answered ${response.statusCode}: ${response.body}`);
  const created = response.json() as Omit<TestKey, 'headers'>;
  if (deposit !== undefined) await depositTo(app, created.client, deposit);
  return { ...created, headers: { authorization: `Bearer ${created.key}` } };
}

/** Enters a deposit on a client's account through the admin API. */
export async function depositTo(app: FastifyInstance, client: string, amount: number): Promise<void> {
  const response = await postJson(app, '/LedgerEntries', { client, type: 'deposit', amount }, asAdmin);
  if (response.statusCode !== 201) {
    throw new Error(`POST /LedgerEntries answered ${response.statusCode}: ${response.body}`);
  }
}
