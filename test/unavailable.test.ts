import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createDatabase, type Database, isConnectionFailure } from '../src/db/database.js';
import { postJson, rechargeBody, sendAdminKeyByDefault, testConfig } from './helpers/app.js';

describe('when PostgreSQL cannot be reached', () => {
  let database: Database;
  let app: Awaited<ReturnType<typeof buildApp>>;
  const logs: string[] = [];
  beforeAll(async () => {
    // Nothing listens on port 1: every connection is refused at once.
    database = await createDatabase({ url: 'postgres://postgres@127.0.0.1:1/none' });
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    app = sendAdminKeyByDefault(await buildApp(testConfig(), { database, logStream: stream }));
  });
  afterAll(async () => {
    await app.close();
    await database.close();
  });

  it('then reads and recharges answer 503 unavailable with Retry-After, and nothing internal', async () => {
    for (const response of [
      await app.inject({ method: 'GET', url: '/CompanyProducts' }),
      await postJson(app, '/PhoneRecharges', rechargeBody),
    ]) {
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json()).toEqual({
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        code: 'unavailable',
        detail: 'the service is temporarily unavailable; retry later',
        request_id: response.headers['x-request-id'],
      });
    }
    const warnings = logs
      .join('')
      .split('\n')
      .filter((line) => line.includes('"level":40'));
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toContain('ECONNREFUSED');
  });

  it('then /readyz is 503 and /healthz still 200', async () => {
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
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
