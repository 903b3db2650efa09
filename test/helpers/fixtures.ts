import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { clearCatalog, createTestApp, postJson, type TestApp } from './app.js';
import { type DatabaseTarget, emptyRecharges } from './databases.js';

/** Tables a suite may empty straight in the database between tests. */
export type ResetTable = 'api_keys' | 'idempotency_keys' | 'recharges';

export type Catalog = { company_id: string; products: { id: string; value: number }[] };

export type TestAppOptions = {
  /** Configuration over `testConfig`'s defaults. */
  env?: Record<string, string>;
  /** Before each test: these tables emptied, in this order. */
  empty?: readonly ResetTable[];
  /** Before each test, after `empty`: every catalog deleted through the API (so the catalog cache hears of it). */
  clearCatalog?: boolean;
  /** Before each test, last: these catalogs created through the API, each answered with 201. */
  seed?: readonly Catalog[];
};

/**
 * One app and database for the enclosing describe, built in its beforeAll and closed in its afterAll, with the
 * state named in `options` reset before each test. Hooks the caller registers afterwards run after these.
 */
export function useTestApp(target: DatabaseTarget, options: TestAppOptions = {}): () => TestApp {
  const { env = {}, empty = [], seed = [] } = options;
  let built: TestApp | undefined;
  const t = () => built ?? expect.fail('the app is built in beforeAll');
  beforeAll(async () => {
    built = await createTestApp(target, env);
  });
  afterAll(() => built?.close());
  if (empty.length > 0 || options.clearCatalog || seed.length > 0) {
    beforeEach(async () => {
      for (const table of empty) {
        if (table === 'recharges') await emptyRecharges(t().database.db);
        else await t().database.db.deleteFrom(table).execute();
      }
      if (options.clearCatalog) await clearCatalog(t().app);
      for (const catalog of seed)
        expect((await postJson(t().app, '/CompanyProducts', catalog)).statusCode).toBe(201);
    });
  }
  return t;
}
