import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type CarrierSimulator, startCarrierSimulator } from '../src/modules/carrier/carrier-simulator.js';
import { asAdmin, rechargeBody } from './helpers/app.js';
import { createTestDatabase, type TestDatabase, withSearchPath } from './helpers/databases.js';
import { type ServerProcess, startServerDespiteDroppedSchemas, untilReady } from './helpers/process.js';
import { startTcpProxy, targetOf } from './helpers/tcp-proxy.js';

const pgTargets = process.env.TEST_DATABASE_URL ? [process.env.TEST_DATABASE_URL] : [];

const N = 20;
// A claim's lease is the carrier timeout plus 5 s (dispatcher.ts): a dead claimer's work is taken over after 6 s.
const CARRIER_TIMEOUT_MS = 1000;
// Below the carrier timeout: a slower carrier would time out every call, its status queries too, for ever.
const LATENCY_MS = 600;
const SETTLE_MS = 25_000;
// Start-ups, the 6 s lease and SETTLE_MS; vitest's default 30 s is too short for a test with two processes.
const TEST_MS = 60_000;
// The name of the prepared statement that records outcomes; it is in the Parse and Bind messages.
const RECORD = 'dispatcher_record';

const dispatching = (carrierUrl: string) => ({
  REDIS_URL: '',
  SEED_DEMO_DATA: 'true',
  DISPATCHER: 'on',
  CARRIER: 'http',
  CARRIER_URL: carrierUrl,
  CARRIER_TIMEOUT_MS: String(CARRIER_TIMEOUT_MS),
  CARRIER_RETRY_BASE_MS: '50',
  // More than N: a call queued for a connection counts against its own timeout.
  CARRIER_MAX_CONNECTIONS: '64',
  RATE_LIMIT_PER_MINUTE: '100000',
  RECHARGES_PER_CLIENT_PER_MINUTE: '100000',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
});

const baseOf = (server: ServerProcess) => `http://127.0.0.1:${server.port}`;
/** How many JSON log lines whose message starts with this the process wrote. */
const logged = (output: string, message: string) => output.split(`"msg":"${message}`).length - 1;

/** N recharges, all answered 201: their ids. */
async function postRecharges(server: ServerProcess, series: string): Promise<string[]> {
  const responses = await Promise.all(
    Array.from({ length: N }, (_, index) =>
      fetch(`${baseOf(server)}/PhoneRecharges`, {
        method: 'POST',
        headers: { ...asAdmin, 'content-type': 'application/json' },
        body: JSON.stringify({
          ...rechargeBody,
          phone_number: `551197${series}${String(index + 1).padStart(4, '0')}`,
        }),
      }),
    ),
  );
  expect(responses.map((response) => response.status)).toEqual(responses.map(() => 201));
  return Promise.all(responses.map(async (response) => ((await response.json()) as { id: string }).id));
}

function statusesOf(server: ServerProcess, ids: string[]): Promise<string[]> {
  return Promise.all(
    ids.map((id) =>
      fetch(`${baseOf(server)}/PhoneRecharges?id=${id}`, { headers: asAdmin }).then(
        async (response) => ((await response.json()) as { status?: string }).status ?? `${response.status}`,
        () => 'unreachable',
      ),
    ),
  );
}

async function expectAllCompleted(server: ServerProcess, ids: string[]) {
  await expect
    .poll(() => statusesOf(server, ids), { timeout: SETTLE_MS, interval: 250 })
    .toEqual(ids.map(() => 'completed'));
}

/** The carrier's own books: each reference credited once, and nothing else credited. */
async function expectOneCreditEach(simulator: CarrierSimulator, ids: string[]) {
  expect(simulator.stats()).toMatchObject({ credits: ids.length, referencesCreditedMoreThanOnce: 0 });
  const credits = await Promise.all(
    ids.map(async (id) => {
      const response = await fetch(`${simulator.url}/credits/${id}`);
      return ((await response.json()) as { credits: number }).credits;
    }),
  );
  expect(credits).toEqual(ids.map(() => 1));
}

/** How many stored recharges are in each status, read directly from the schema. */
async function storedStatuses(database: TestDatabase): Promise<Record<string, number>> {
  const rows = await database.db.selectFrom('recharges').select('status').execute();
  const tally: Record<string, number> = {};
  for (const { status } of rows) tally[status] = (tally[status] ?? 0) + 1;
  return tally;
}

async function ended(server: ServerProcess) {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await server.exited;
}

describe.each(pgTargets)(
  'the dispatcher of a server process under faults (PostgreSQL %s)',
  (url) => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    });

    /** A fresh schema, a simulated carrier and a proxy to PostgreSQL; children are killed first on cleanup. */
    async function setUp(latencyMs = LATENCY_MS) {
      const database = await createTestDatabase('postgres');
      cleanups.push(() => database.close());
      const simulator = await startCarrierSimulator({ latencyMs, seed: 7 });
      cleanups.push(() => simulator.close());
      const proxy = await startTcpProxy(targetOf(url, 5432));
      cleanups.push(() => proxy.close());
      const children: ServerProcess[] = [];
      cleanups.push(() => Promise.all(children.map(ended)));
      const schema = database.schema ?? '';

      async function start(through: 'proxy' | 'direct', env: Record<string, string> = {}) {
        const databaseUrl = withSearchPath(through === 'proxy' ? proxy.urlFor(url) : url, schema);
        const server = await startServerDespiteDroppedSchemas(
          { ...dispatching(simulator.url), DATABASE_URL: databaseUrl, ...env },
          schema,
        );
        children.push(server);
        await untilReady(server);
        return server;
      }
      return { database, simulator, proxy, start };
    }

    it('when SIGKILLed mid-call, then the next process asks the carrier, and each recharge is credited once', async () => {
      const { database, simulator, start } = await setUp();
      const first = await start('direct');
      const ids = await postRecharges(first, '101');
      await expect.poll(() => simulator.stats().sends, { timeout: 10_000, interval: 5 }).toBeGreaterThan(0);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBeNull();
      // Sent and not answered yet: claimed and leased, its outcome unknown to the database.
      expect((await storedStatuses(database)).processing).toBeGreaterThan(0);

      const second = await start('direct');
      await expectAllCompleted(second, ids);
      await expectOneCreditEach(simulator, ids);
    });

    it('when SIGKILLed after the carrier credited, before the outcome is recorded, then the next process records it once', async () => {
      const { database, simulator, proxy, start } = await setUp(0);
      const first = await start('proxy');
      let heldRecords = 0;
      let release: (verdict: 'drop') => void = () => {};
      const released = new Promise<'drop'>((resolve) => (release = resolve));
      cleanups.push(async () => release('drop'));
      proxy.onChunk((chunk, direction) => {
        if (direction !== 'toTarget' || !chunk.includes(RECORD)) return 'forward';
        heldRecords += 1;
        return released; // held until the process is dead, then lost with its connection
      });
      const ids = await postRecharges(first, '102');
      const allAnswered = () =>
        simulator.stats().credits === N && logged(first.output(), 'carrier call"') === N && heldRecords > 0;
      await expect.poll(allAnswered, { timeout: 10_000, interval: 5 }).toBe(true);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBeNull();
      release('drop');
      proxy.onChunk(undefined);
      expect(await storedStatuses(database)).toEqual({ processing: N });

      const second = await start('proxy');
      await expectAllCompleted(second, ids);
      await expectOneCreditEach(simulator, ids);
    });

    it('when PostgreSQL is unreachable as the carrier answers, then the same process records it after the lease', async () => {
      const { database, simulator, proxy, start } = await setUp();
      const server = await start('proxy');
      const ids = await postRecharges(server, '103');
      await expect.poll(() => simulator.stats().sends, { timeout: 10_000, interval: 5 }).toBe(N);
      proxy.refuse();
      proxy.cutAll();
      const answered = () => logged(server.output(), 'carrier call"');
      await expect.poll(answered, { timeout: 10_000, interval: 50 }).toBe(N);
      await expect
        .poll(() => logged(server.output(), 'carrier outcome not recorded'), {
          timeout: 10_000,
          interval: 50,
        })
        .toBeGreaterThan(0);
      expect((await storedStatuses(database)).processing).toBeGreaterThan(0);
      expect(simulator.stats().credits).toBe(N);

      proxy.restore();
      await expectAllCompleted(server, ids);
      expect(server.child.exitCode).toBeNull();
      await expectOneCreditEach(simulator, ids);
    });

    it('when SIGTERMed mid-call, then it records its calls, claims no more, exits 0, and the next process sends the rest', async () => {
      const { database, simulator, start } = await setUp();
      const concurrency = 4;
      const first = await start('direct', { DISPATCHER_CONCURRENCY: String(concurrency) });
      const ids = await postRecharges(first, '104');
      await expect.poll(() => simulator.stats().sends, { timeout: 10_000, interval: 5 }).toBeGreaterThan(0);
      first.child.kill('SIGTERM');
      expect(await first.exited, first.output().slice(-3000)).toBe(0);

      const log = first.output();
      expect(log).toContain('shutting down');
      const afterSignal = log.slice(log.indexOf('shutting down'));
      expect(afterSignal).toContain('shutdown complete');
      expect(afterSignal).toContain('dispatcher stopped claiming');
      // Only the calls in flight at the signal were answered after it; what it never claimed is still pending.
      expect(logged(afterSignal, 'carrier call"')).toBeLessThanOrEqual(concurrency);
      const stored = await storedStatuses(database);
      expect(stored.pending).toBeGreaterThan(0);
      expect(stored.completed ?? 0).toBe(simulator.stats().credits);
      // A lease would run ~6 s from its claim, under a second before; a recorded retry comes due sooner.
      const leased = await sql<{ n: number }>`
        select count(*)::int as n from recharges
        where status = 'processing' and next_attempt_at > statement_timestamp() + interval '3 seconds'
      `.execute(database.db);
      expect(leased.rows[0]?.n).toBe(0);

      const second = await start('direct');
      await expectAllCompleted(second, ids);
      await expectOneCreditEach(simulator, ids);
    });
  },
  TEST_MS,
);
