import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';

type Recharge = { id: string; status: string; failure_code: string | null; updated_at: string };
type TopUp = {
  reference: string;
  phone_number: string;
  value: number;
  credited_at: string;
  reversed_at: null;
};

// The sandbox carrier's table (docs/api.md): the ending, the final status and failure code, and the credits
// the carrier applied.
const ENDINGS: [string, string, string | null, number][] = [
  ['9001', 'failed', 'invalid_number', 0],
  ['9002', 'failed', 'barred_number', 0],
  ['9003', 'failed', 'carrier_unavailable', 0],
  ['9004', 'completed', null, 1],
  ['9005', 'completed', null, 1],
  ['9006', 'completed', null, 1],
  ['9008', 'completed', null, 1],
  ['9009', 'failed', 'carrier_declined', 0],
  ['1234', 'completed', null, 1],
];

const phone = (ending: string) => `55119${String(Math.floor(Math.random() * 1e4)).padStart(4, '0')}${ending}`;

describe.each(databaseTargets)('the recharge lifecycle on %s', (target) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(target, {
      DISPATCHER: 'on',
      SEED_DEMO_DATA: 'true',
      RECHARGES_PER_CLIENT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
    });
  });
  afterAll(() => t.close());

  const post = (phoneNumber: string, headers: Record<string, string> = {}) =>
    postJson(t.app, '/PhoneRecharges', { ...rechargeBody, phone_number: phoneNumber }, headers);
  const topUps = async (id: string) =>
    (await t.app.inject({ url: `/SandboxCarrier/TopUps?reference=${id}` })).json() as TopUp[];
  const get = async (id: string) =>
    (await t.app.inject({ url: `/PhoneRecharges?id=${id}` })).json() as Recharge;

  it('reaches every final status of the sandbox table, within 20 s, crediting at most once', async () => {
    const started = Date.now();
    const answers = await Promise.all(
      ENDINGS.map(async ([ending]) => {
        const response = await post(phone(ending), { prefer: 'wait=20' });
        expect(response.statusCode).toBe(201);
        expect(response.headers['preference-applied']).toBe('wait=20');
        return response.json() as Recharge;
      }),
    );
    expect(Date.now() - started).toBeLessThan(20_000);
    for (const [index, [ending, status, failureCode, credits]] of ENDINGS.entries()) {
      const recharge = answers[index] as Recharge;
      expect({ ending, status: recharge.status, failure: recharge.failure_code }).toEqual({
        ending,
        status,
        failure: failureCode,
      });
      expect(await topUps(recharge.id)).toHaveLength(credits);
      expect(await get(recharge.id)).toEqual(recharge);
    }
  }, 30_000);

  it('9007: completed, then reversed about 2 s later, with one credit that shows its reversal', async () => {
    const completed = (await post(phone('9007'), { prefer: 'wait=10' })).json() as Recharge;
    expect(completed).toMatchObject({ status: 'completed', failure_code: null });
    await expect.poll(async () => (await get(completed.id)).status, { timeout: 10_000 }).toBe('reversed');
    const reversed = await get(completed.id);
    expect(reversed.failure_code).toBe('carrier_reversed');
    expect(Date.parse(reversed.updated_at)).toBeGreaterThan(Date.parse(completed.updated_at));
    const [credit, ...more] = await topUps(completed.id);
    expect(more).toEqual([]);
    expect(credit?.reversed_at).not.toBeNull();
  }, 15_000);

  it('answers at once as pending without Prefer, and a replay answers the recharge as it is now', async () => {
    const first = await post(phone('1111'), { 'idempotency-key': 'lifecycle-replay' });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ status: 'pending', failure_code: null });
    expect(first.json().updated_at).toBe(first.json().created_at);
    expect(first.headers['preference-applied']).toBeUndefined();
    await expect.poll(async () => (await get(first.json().id)).status).toBe('completed');
    const replay = await post(first.json().phone_number, { 'idempotency-key': 'lifecycle-replay' });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toMatchObject({ id: first.json().id, status: 'completed' });
    const list = await t.app.inject({ url: `/PhoneRecharges?phone_number=${first.json().phone_number}` });
    expect(list.json()).toEqual([replay.json()]);
  });

  it('caps a wait at 30 s and ignores a malformed preference', async () => {
    for (const prefer of ['respond-async, wait=600', 'wait=100000000000000000000000']) {
      const capped = await post(phone('2222'), { prefer });
      expect(capped.headers['preference-applied']).toBe('wait=30');
      expect(capped.json().status).toBe('completed');
    }
    for (const prefer of ['wait=soon', 'wait=0', 'wait', 'wait=-1']) {
      const ignored = await post(phone('3333'), { prefer });
      expect(ignored.statusCode).toBe(201);
      expect(ignored.headers['preference-applied']).toBeUndefined();
    }
  });

  it('logs every carrier call with the recharge id and outcome, and never the full phone number', async () => {
    const number = phone('4444');
    const { id } = (await post(number, { prefer: 'wait=5' })).json() as Recharge;
    const calls = t.logs().filter((line) => line.msg === 'carrier call' && line.recharge_id === id);
    expect(calls).toEqual([expect.objectContaining({ step: 'send', outcome: 'credited' })]);
    expect(JSON.stringify(t.logs())).not.toContain(number);
  });

  it('shows the lifecycle in /metrics', async () => {
    await post(phone('9001'), { prefer: 'wait=5' });
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^recharge_status_changes_total\{status="failed"\} [1-9]/m);
    expect(metrics).toMatch(/^recharge_status_changes_total\{status="completed"\} [1-9]/m);
    expect(metrics).toMatch(
      /^carrier_call_duration_seconds_count\{operation="send",outcome="refused"\} [1-9]/m,
    );
    expect(metrics).toMatch(/^carrier_retries_total [1-9]/m);
    expect(metrics).toMatch(/^recharges_unfinished\{status="pending"\} \d+/m);
    expect(metrics).toMatch(/^recharges_oldest_unfinished_age_seconds\{status="processing"\} [\d.]+/m);
  });

  it('refuses a malformed sandbox reference and answers an empty list for an unknown one', async () => {
    const bad = await t.app.inject({ url: '/SandboxCarrier/TopUps?reference=nope' });
    expect(bad.statusCode).toBe(400);
    const unknown = await topUps('01931c5e-0000-7000-8000-000000000000');
    expect(unknown).toEqual([]);
  });
});
