import { describe, expect, it, vi } from 'vitest';
import { createRechargeRepository, createRechargeService } from '../src/modules/recharges/index.js';
import { claro, createTestApp, postJson, rechargeBody, type TestApp, testConfig } from './helpers/app.js';
import { databaseTargets, type TestDatabase } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const PURGED = 'expired idempotency keys purged';

const recharge = (t: TestApp, key: string) =>
  postJson(t.app, '/PhoneRecharges', rechargeBody, { 'idempotency-key': key });

async function makeKeyed(t: TestApp, key: string) {
  const response = await recharge(t, key);
  expect(response.statusCode).toBe(201);
  return response.json() as { id: string };
}

/** Backdates a key as if it had been bound `hours` ago. */
async function age(database: TestDatabase, key: string, hours: number) {
  await database.db
    .updateTable('idempotency_keys')
    .set({ created_at: new Date(Date.now() - hours * HOUR_MS) })
    .where('key', '=', key)
    .execute();
}

async function keysLeft(database: TestDatabase) {
  const rows = await database.db.selectFrom('idempotency_keys').select('key').orderBy('key').execute();
  return rows.map((row) => row.key);
}

/** Polls with the real setTimeout (not faked here): vi.waitFor would advance the fake clock itself. */
async function until(isDone: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!isDone()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(databaseTargets)('idempotency key retention on %s', (target) => {
  const t = useTestApp(target, {
    empty: ['idempotency_keys', 'recharges'],
    clearCatalog: true,
    seed: [claro],
  });

  it('when a key is older than the retention, then the purge forgets it and the key makes a new recharge', async () => {
    const service = createRechargeService({ recharges: createRechargeRepository(t().database.db) });
    const old = await makeKeyed(t(), 'old');
    const young = await makeKeyed(t(), 'young');
    await age(t().database, 'old', 25);
    await age(t().database, 'young', 23);

    expect(await service.purgeIdempotencyKeys(24 * HOUR_MS)).toBe(1);
    expect(await keysLeft(t().database)).toEqual(['young']);

    const again = await recharge(t(), 'old');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json().id).not.toBe(old.id);
    const replay = await recharge(t(), 'young');
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(young);

    // The recharges themselves stay: only the keys are forgotten.
    const listed = await t().app.inject({ url: `/PhoneRecharges?phone_number=${rechargeBody.phone_number}` });
    expect(listed.json().map((r: { id: string }) => r.id)).toEqual([old.id, young.id, again.json().id]);
  });

  it('when the purge is given a later now, then it measures the age from that now', async () => {
    const service = createRechargeService({ recharges: createRechargeRepository(t().database.db) });
    await makeKeyed(t(), 'young');
    await age(t().database, 'young', 23);
    expect(await service.purgeIdempotencyKeys(24 * HOUR_MS, new Date(Date.now() + HOUR_MS / 2))).toBe(0);
    expect(await service.purgeIdempotencyKeys(24 * HOUR_MS, new Date(Date.now() + 2 * HOUR_MS))).toBe(1);
    expect(await keysLeft(t().database)).toEqual([]);
  });
});

describe.each(databaseTargets)('the hourly idempotency key purge on %s', (target) => {
  it.each([
    ['the default 24 hours', {}, 25, 23],
    ['IDEMPOTENCY_KEY_TTL_HOURS=48', { IDEMPOTENCY_KEY_TTL_HOURS: '48' }, 49, 47],
  ])('when an hour passes, then keys older than %s are deleted', async (_, env, oldHours, youngHours) => {
    // Only the purge's interval is faked: the database, the requests and the polling below keep real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let t: TestApp | undefined;
    try {
      t = await createTestApp(target, env);
      const app = t;
      expect((await postJson(app.app, '/CompanyProducts', claro)).statusCode).toBe(201);
      await makeKeyed(app, 'old');
      await makeKeyed(app, 'young');
      await age(app.database, 'old', oldHours);
      await age(app.database, 'young', youngHours);
      const purgeLogs = () => app.logs().filter((line) => line.msg === PURGED);

      vi.advanceTimersByTime(HOUR_MS - MINUTE_MS);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(purgeLogs()).toEqual([]);
      expect(await keysLeft(app.database)).toEqual(['old', 'young']);

      vi.advanceTimersByTime(MINUTE_MS);
      await until(() => purgeLogs().length > 0);
      expect(purgeLogs()[0]).toMatchObject({ level: 30, purged: 1 });
      expect(await keysLeft(app.database)).toEqual(['young']);
    } finally {
      // Closed while the fake clearInterval still knows the purge's timer.
      await t?.close();
      vi.useRealTimers();
    }
  });
});

describe('the idempotency key retention setting', () => {
  it('when it is under 24 hours, then the configuration is refused naming the variable', () => {
    expect(() => testConfig({ IDEMPOTENCY_KEY_TTL_HOURS: '23' })).toThrow(/IDEMPOTENCY_KEY_TTL_HOURS/);
    expect(testConfig({}).idempotencyKeyTtlMs).toBe(24 * HOUR_MS);
  });
});
