import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claro, createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { databaseTargets, emptyRecharges, type TestDatabase } from './helpers/databases.js';
import { expectProblem } from './helpers/problems.js';

// Bursts of one client's recharges, far past the default per-client limit on purpose.
const ENV = { RECHARGES_PER_CLIENT_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000' };
const BURST = 50;
const OTHER_PHONE = '5521988887777';
const BODIES = [
  rechargeBody,
  { ...rechargeBody, product_id: 'claro_20', value: 20 },
  { ...rechargeBody, phone_number: OTHER_PHONE },
  { ...rechargeBody, value: 15 }, // refused: value_mismatch
] as const;
const REFUSED = 3;

const IN_FLIGHT = {
  code: 'conflict',
  detail: 'a request with this Idempotency-Key is still being processed; retry after it finishes',
};

const post = (app: FastifyInstance, body: unknown, key: string | null) =>
  postJson(app, '/PhoneRecharges', body, key === null ? {} : { 'idempotency-key': key });
const isFresh = (response: LightMyRequestResponse) =>
  response.statusCode === 201 && response.headers['idempotent-replayed'] === undefined;

/** One key's burst: one recharge made, every other answer its replay or a 409 to retry. */
function expectOneRechargeFor(responses: LightMyRequestResponse[]) {
  const fresh = responses.filter(isFresh);
  expect(fresh).toHaveLength(1);
  const first = fresh[0] as LightMyRequestResponse;
  for (const response of responses) {
    if (response.statusCode === 201) {
      expect(response.json()).toEqual(first.json());
      expect(response.headers.location).toBe(first.headers.location);
      if (response !== first) expect(response.headers['idempotent-replayed']).toBe('true');
    } else {
      expectProblem(response, 409, IN_FLIGHT);
      expect(response.headers['retry-after']).toBe('1');
    }
  }
  return first.json() as { id: string };
}

async function storedCounts(database: TestDatabase) {
  const recharges = await database.db.selectFrom('recharges').select('id').execute();
  const keys = await database.db.selectFrom('idempotency_keys').select('key').execute();
  return { recharges: recharges.length, keys: keys.length };
}

describe.each(databaseTargets)('idempotency under concurrency on %s', (target) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(target, ENV);
    expect((await postJson(t.app, '/CompanyProducts', claro)).statusCode).toBe(201);
  });
  afterAll(() => t.close());
  const clean = async () => {
    await t.database.db.deleteFrom('idempotency_keys').execute();
    await emptyRecharges(t.database.db);
  };

  it(`when ${BURST} identical requests with one key arrive at once, then exactly one recharge is made`, async () => {
    await clean();
    const responses = await Promise.all(
      Array.from({ length: BURST }, () => post(t.app, rechargeBody, 'burst')),
    );
    const made = expectOneRechargeFor(responses);
    expect(await storedCounts(t.database)).toEqual({ recharges: 1, keys: 1 });
    // A 409's retry, once the first has finished, is the replay.
    const retry = await post(t.app, rechargeBody, 'burst');
    expect(retry.statusCode).toBe(201);
    expect(retry.json()).toEqual(made);
  });

  type Step = { key: string | null; body: number; startsBatch: boolean };
  type Outcome = { step: Step; batch: number; response: LightMyRequestResponse };
  const stepArb = fc.record({
    key: fc.constantFrom(null, 'k1', 'k2', 'k3', 'k4'),
    body: fc.integer({ min: 0, max: BODIES.length - 1 }),
    startsBatch: fc.boolean(),
  });

  /** Consecutive steps form a batch sent at once, started in the scheduler's order; batches follow each other. */
  async function send(steps: Step[], scheduler: fc.Scheduler): Promise<Outcome[]> {
    const batches: Step[][] = [];
    for (const step of steps) {
      if (step.startsBatch || batches.length === 0) batches.push([]);
      batches.at(-1)?.push(step);
    }
    const outcomes: Outcome[] = [];
    for (const [batch, batchSteps] of batches.entries()) {
      const pending = batchSteps.map((step) =>
        scheduler
          .schedule(Promise.resolve(step), `${step.key} body ${step.body}`)
          .then(async () => ({ step, batch, response: await post(t.app, BODIES[step.body], step.key) })),
      );
      outcomes.push(...(await scheduler.waitFor(Promise.all(pending))));
    }
    return outcomes;
  }

  function expectConsistent(outcomes: Outcome[]) {
    const freshByKey = new Map<string, Outcome>();
    for (const outcome of outcomes.filter((o) => o.step.key !== null && isFresh(o.response))) {
      expect(freshByKey.has(outcome.step.key as string), `two fresh 201s for ${outcome.step.key}`).toBe(
        false,
      );
      freshByKey.set(outcome.step.key as string, outcome);
    }
    for (const { step, batch, response } of outcomes) {
      const code = response.statusCode === 201 ? 'created' : response.json().code;
      if (step.key === null) {
        expect(code).toBe(step.body === REFUSED ? 'value_mismatch' : 'created');
        continue;
      }
      const bound = freshByKey.get(step.key);
      const boundEarlier = bound !== undefined && bound.batch < batch;
      const hasSibling = outcomes.some(
        (o) => o.batch === batch && o.step.key === step.key && o.step !== step,
      );
      if (code === 'created') {
        expect(bound).toBeDefined();
        if (bound?.response !== response) expect(response.headers['idempotent-replayed']).toBe('true');
        expect(response.json()).toEqual(bound?.response.json());
        expect(step.body).toBe(bound?.step.body);
      } else if (code === 'idempotency_key_reused') {
        expect(bound && bound.batch <= batch && bound.step.body !== step.body).toBe(true);
      } else if (code === 'value_mismatch') {
        expect(step.body === REFUSED && !boundEarlier).toBe(true);
      } else {
        expect(code).toBe('conflict');
        expect(response.headers['retry-after']).toBe('1');
        expect(hasSibling, 'a 409 without a concurrent request with its key').toBe(true);
        expect(boundEarlier, 'a 409 for a key bound by an earlier batch').toBe(false);
      }
    }
  }

  it('when random batches of keyed and keyless requests race, then each key makes at most one recharge', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 5, maxLength: 25 }),
        fc.scheduler(),
        async (steps, s) => {
          await clean();
          const outcomes = await send(steps, s);
          expectConsistent(outcomes);
          const keyless = outcomes.filter((o) => o.step.key === null && o.response.statusCode === 201);
          const boundKeys = new Set(
            outcomes.filter((o) => o.step.key !== null && isFresh(o.response)).map((o) => o.step.key),
          );
          expect(await storedCounts(t.database)).toEqual({
            recharges: boundKeys.size + keyless.length,
            keys: boundKeys.size,
          });
          const stored = await t.database.db.selectFrom('recharges').select('id').execute();
          const made = outcomes.filter((o) => isFresh(o.response)).map((o) => o.response.json().id);
          expect(stored.map((row) => row.id).sort()).toEqual(made.sort());
        },
      ),
      { numRuns: 20 },
    );
  });
});

// Two instances share the advisory locks and rows of one PostgreSQL database; PGlite has one process.
describe.each(databaseTargets.filter((target) => target === 'postgres'))(
  'idempotency across two instances on %s',
  (target) => {
    let database: TestDatabase;
    let apps: FastifyInstance[];
    // The first owns the database; the second is another instance on it.
    const instances: TestApp[] = [];
    beforeAll(async () => {
      instances.push(await createTestApp(target, ENV));
      database = (instances[0] as TestApp).database;
      instances.push(await createTestApp(database, ENV));
      apps = instances.map((instance) => instance.app);
      expect((await postJson(apps[0] as FastifyInstance, '/CompanyProducts', claro)).statusCode).toBe(201);
    });
    afterAll(async () => {
      for (const instance of instances.reverse()) await instance.close();
    });

    it(`when ${BURST} identical requests with one key reach two instances at once, then one recharge is made`, async () => {
      const responses = await Promise.all(
        Array.from({ length: BURST }, (_, i) =>
          post(apps[i % 2] as FastifyInstance, rechargeBody, 'two-apps'),
        ),
      );
      const made = expectOneRechargeFor(responses);
      expect(await storedCounts(database)).toEqual({ recharges: 1, keys: 1 });
      for (const app of apps) expect((await post(app, rechargeBody, 'two-apps')).json()).toEqual(made);
    });
    // Stands in for a request of the same client and key caught mid-statement: the lock it takes is this one.
    it('when another request holds a key, then a bound key still replays and a free one answers 409', async () => {
      const app = apps[1] as FastifyInstance;
      const made = await post(app, rechargeBody, 'held-bound');
      const other = new pg.Client({ connectionString: database.url });
      await other.connect();
      try {
        await other.query('begin');
        await other.query(
          `select pg_advisory_xact_lock(hashtextextended($1 || chr(10) || k, 0)) from unnest($2::text[]) k`,
          ['admin', ['held-bound', 'held-free']],
        );
        const replay = await post(app, rechargeBody, 'held-bound');
        expect(replay.statusCode).toBe(201);
        expect(replay.headers['idempotent-replayed']).toBe('true');
        expect(replay.json()).toEqual(made.json());
        const busy = await post(app, rechargeBody, 'held-free');
        expectProblem(busy, 409, IN_FLIGHT);
        expect(busy.headers['retry-after']).toBe('1');
        await other.query('commit');
      } finally {
        await other.end();
      }
      const free = await post(app, rechargeBody, 'held-free');
      expect(isFresh(free)).toBe(true);
    });
  },
);
