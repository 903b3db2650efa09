import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database, isConnectionFailure } from '../src/db/database.js';
import { createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/problems.js';

describe('when PostgreSQL cannot be reached', () => {
  let database: Database;
  let t: TestApp;
  beforeAll(async () => {
    // Nothing listens on port 1: every connection is refused at once.
    database = await createDatabase({ url: 'postgres://postgres@127.0.0.1:1/none' });
    t = await createTestApp(database);
  });
  afterAll(async () => {
    await t?.close();
    await database.close();
  });

  it('then reads and recharges answer 503 unavailable with Retry-After, and nothing internal', async () => {
    for (const response of [
      await t.app.inject({ method: 'GET', url: '/CompanyProducts' }),
      await postJson(t.app, '/PhoneRecharges', rechargeBody),
    ]) {
      expectProblem(response, 503, {
        code: 'unavailable',
        detail: 'the service is temporarily unavailable; retry later',
      });
      expect(response.headers['retry-after']).toBe('5');
    }
    const warnings = t.logs().filter((line) => line.level === 40);
    expect(warnings.length).toBeGreaterThan(0);
    expect(JSON.stringify(warnings[0])).toContain('ECONNREFUSED');
  });

  it('then /readyz is 503 and /healthz still 200', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('isConnectionFailure', () => {
  it.each([
    [{ code: 'ECONNREFUSED' }, true],
    [new Error('Connection terminated unexpectedly'), true],
    [{ code: '08006' }, true],
    [{ code: '57P01' }, true],
    [{ code: '23505' }, false],
    [{ code: '42P01' }, false],
    [{ code: '57014' }, true],
    [{ code: '40001' }, false],
  ])('classifies %j as %s', (error, expected) => {
    expect(isConnectionFailure(error)).toBe(expected);
  });
});
