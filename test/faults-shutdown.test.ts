import { describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/database.js';
import { startCarrierSimulator } from '../src/modules/carrier/carrier-simulator.js';
import { asAdmin, rechargeBody } from './helpers/app.js';
import {
  createTestDatabase,
  databaseTargets,
  type TestDatabase,
  withSearchPath,
} from './helpers/databases.js';
import { startServerDespiteDroppedSchemas, startServerProcess, untilReady } from './helpers/process.js';

const TOTAL = 200;
const CONCURRENCY = 20;
const TERM_AFTER_ANSWERS = 50;
const PHONE_NUMBER = '5511955550001';

type Outcome = { status: number | 'connection error'; body: string };

async function storedIds(target: 'pglite' | 'postgres', dataDir: string, database?: TestDatabase) {
  // PGlite: the data directory the process left behind, opened as the next start would open it.
  const opened = database ?? (await createDatabase({ dataDir }));
  try {
    const rows = await opened.db
      .selectFrom('recharges')
      .select('id')
      .where('phone_number', '=', PHONE_NUMBER)
      .execute();
    return rows.map((row) => row.id);
  } finally {
    if (target === 'pglite') await opened.close();
  }
}

describe.each(databaseTargets)('a server process on %s', (target) => {
  it('when SIGTERM arrives mid-burst, then it exits 0 in time, keeps every 201, and answers no 500', async () => {
    const database = target === 'postgres' ? await createTestDatabase('postgres') : undefined;
    try {
      const server = await startServerDespiteDroppedSchemas(
        {
          SEED_DEMO_DATA: 'true',
          REDIS_URL: '',
          RATE_LIMIT_PER_MINUTE: '100000',
          RECHARGES_PER_CLIENT_PER_MINUTE: '100000',
          ...(database?.url && database.schema
            ? { DATABASE_URL: withSearchPath(database.url, database.schema) }
            : {}),
        },
        database?.schema ?? '',
      );
      const base = `http://127.0.0.1:${server.port}`;
      await untilReady(server);

      const exitedAt = server.exited.then(() => performance.now());
      const outcomes: Outcome[] = [];
      let terminatedAt: number | undefined;
      let sent = 0;
      const send = async () => {
        while (sent < TOTAL) {
          sent += 1;
          try {
            const response = await fetch(`${base}/PhoneRecharges`, {
              method: 'POST',
              headers: { ...asAdmin, 'content-type': 'application/json' },
              body: JSON.stringify({ ...rechargeBody, phone_number: PHONE_NUMBER }),
            });
            outcomes.push({ status: response.status, body: await response.text() });
          } catch {
            outcomes.push({ status: 'connection error', body: '' });
          }
          if (outcomes.length === TERM_AFTER_ANSWERS) {
            terminatedAt = performance.now();
            server.child.kill('SIGTERM');
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, send));

      expect(await server.exited, server.output().slice(-3000)).toBe(0);
      expect((await exitedAt) - (terminatedAt ?? 0)).toBeLessThan(10_000);
      expect(outcomes).toHaveLength(TOTAL);
      const refusals = outcomes.filter(({ status }) => status !== 201);
      expect(refusals.filter(({ status }) => status !== 503 && status !== 'connection error')).toEqual([]);
      const created = outcomes
        .filter(({ status }) => status === 201)
        .map(({ body }) => (JSON.parse(body) as { id: string }).id);
      expect(created.length).toBeGreaterThanOrEqual(TERM_AFTER_ANSWERS - CONCURRENCY);
      expect(refusals.length).toBeGreaterThan(0);
      // A request may be stored and its answer lost with the connection: stored ⊇ answered 201.
      expect(await storedIds(target, server.dataDir, database)).toEqual(expect.arrayContaining(created));
    } finally {
      await database?.close();
    }
  });
});

describe('a server process with a carrier call in flight', () => {
  it('when SIGTERM arrives, then waiting requests answer at once and it exits 0 before its deadline', async () => {
    // 9006: the simulated carrier takes the request and never answers, so the call lasts CARRIER_TIMEOUT_MS,
    // longer than the shutdown may take.
    const simulator = await startCarrierSimulator({ seed: 1 });
    try {
      const server = await startServerProcess({
        SEED_DEMO_DATA: 'true',
        REDIS_URL: '',
        CARRIER: 'http',
        CARRIER_URL: simulator.url,
        CARRIER_TIMEOUT_MS: '20000',
        SHUTDOWN_TIMEOUT_MS: '4000',
        OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      });
      await untilReady(server);
      const post = (phoneNumber: string, headers: Record<string, string> = {}) =>
        fetch(`http://127.0.0.1:${server.port}/PhoneRecharges`, {
          method: 'POST',
          headers: { ...asAdmin, 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ ...rechargeBody, phone_number: phoneNumber }),
        });
      expect((await post('5511999999006')).status).toBe(201);
      await expect.poll(() => simulator.stats().sends, { timeout: 5_000, interval: 20 }).toBe(1);
      const waiting = post('5511999999006', { prefer: 'wait=30' });
      await expect.poll(() => simulator.stats().sends, { timeout: 5_000, interval: 20 }).toBe(2);

      const terminated = performance.now();
      server.child.kill('SIGTERM');
      const answer = await waiting;
      const answeredAfter = performance.now() - terminated;
      expect(answer.status).toBe(201);
      expect(((await answer.json()) as { status: string }).status).toBe('processing');
      expect(answeredAfter).toBeLessThan(1_000);
      expect(await server.exited, server.output().slice(-3000)).toBe(0);
      expect(performance.now() - terminated).toBeLessThan(4_000);
      expect(server.output()).toContain('carrier calls still in flight are left to their leases');
    } finally {
      await simulator.close();
    }
  });
});
