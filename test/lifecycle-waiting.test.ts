import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';

const WAITING = 1000;

describe.each(databaseTargets)('a thousand requests waiting for outcomes on %s', (target) => {
  let t: TestApp;
  beforeAll(async () => {
    // No dispatcher: every recharge stays pending, so every request waits its full time.
    t = await createTestApp(target, {
      SEED_DEMO_DATA: 'true',
      DB_POOL_SIZE: '5',
      RECHARGES_PER_CLIENT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
    });
  });
  afterAll(() => t.close());

  it('hold no database connection and little memory, and answer as they are when the time is up', async () => {
    // What the waiting requests hold, not what garbage happens to be uncollected at either reading.
    const { gc } = globalThis;
    if (!gc) throw new Error('run with --expose-gc, as vitest.config.ts does');
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const waiting = Array.from({ length: WAITING }, () =>
      postJson(t.app, '/PhoneRecharges', rechargeBody, { prefer: 'wait=4' }),
    );
    // Every recharge is stored before any request answers: they are all waiting now.
    const stored = async () =>
      Number(
        (
          await t.database.db
            .selectFrom('recharges')
            .select((eb) => eb.fn.countAll<string>().as('count'))
            .executeTakeFirstOrThrow()
        ).count,
      );
    await expect.poll(stored, { timeout: 3000, interval: 100 }).toBe(WAITING);
    gc();
    const heapWhileWaiting = process.memoryUsage().heapUsed;
    // Five connections for a thousand waiting requests: a read still gets one at once.
    const read = await t.app.inject({ url: '/readyz' });
    expect(read.statusCode).toBe(200);
    // PGlite is one session with no pool to wait in; on PostgreSQL, nobody waits for a connection.
    const stats = t.database.poolStats();
    expect(stats === null ? 'no pool' : stats.waiting).toBe(target === 'pglite' ? 'no pool' : 0);
    const answers = await Promise.all(waiting);
    expect(answers.every((answer) => answer.statusCode === 201)).toBe(true);
    expect(answers.every((answer) => answer.headers['preference-applied'] === 'wait=4')).toBe(true);
    expect(new Set(answers.map((answer) => answer.json().status))).toEqual(new Set(['pending']));
    // The whole request (Fastify's objects and light-my-request's included) stays well under 50 KB each.
    const perRequest = (heapWhileWaiting - heapBefore) / WAITING;
    expect(perRequest).toBeLessThan(50_000);
  }, 30_000);
});
