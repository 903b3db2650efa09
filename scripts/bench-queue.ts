/**
 * `npx tsx scripts/bench-queue.ts`: how many instances can dispatch the same recharges safely — the recharge
 * row as its own outbox claimed with FOR UPDATE SKIP LOCKED (what src/modules/dispatcher does) against
 * pg-boss 10 (the last major that runs on Node 20) — measured against the targets: end to end ≥ 1,000
 * recharges/s on this 2-core machine, p99 from acceptance to completion ≤ 1 s.
 *
 * Workload, the same for every variant: a producer stores BENCH_QUEUE_N (20000) recharges at BENCH_QUEUE_RATE
 * (1500/s), a batch every 10 ms, each batch in one transaction with its jobs (no dual write), and wakes one of
 * two consumer "instances" in turn (each with its own pool) as a request handler wakes its own dispatcher.
 * An instance takes up to 64 jobs, "calls the carrier" (a 1 ms timer per job, all at once) and records them.
 *
 * - A, row outbox: the insert marks the row due; claim = update … from (select … for update skip locked
 *   limit 64) as a lease; record = one update … from unnest(…); woken in-process, polls every 1 s.
 * - B, pg-boss: insert rows + boss.insert(jobs, { db: the transaction }); `work` with batchSize 64, the
 *   minimum pollingIntervalSeconds (0.5), woken in-process by notifyWorker; the handler marks the rows
 *   completed and pg-boss then completes the jobs (its own statement).
 * - B-poll: B without notifyWorker, only the 0.5 s poll, with batchSize 512 (at 64 it could not exceed
 *   2 × 64 / 0.5 s = 256/s).
 *
 * Acceptance and completion are the database's timestamps: the row's created_at, and its updated_at when
 * recorded (for pg-boss the later of that and the job's completed_on). completed/s = N / (last completion −
 * first acceptance). statements/job counts every statement the producer and the instances sent, polls included.
 * pg-boss's maintenance and scheduling are off (supervise/schedule: false) so as not to count them.
 *
 * Environment: DATABASE_URL (postgres://postgres@127.0.0.1:5432/test), BENCH_QUEUE_N, BENCH_QUEUE_RATE,
 * BENCH_QUEUE_RUNS (2, interleaved), BENCH_QUEUE_VARIANTS (A,B,B-poll). Each run has its own schemas,
 * dropped at the end. A higher BENCH_QUEUE_RATE (e.g. 10000) shows which one gives way first, and how.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { uuidv7 } from 'uuidv7';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_QUEUE_N ?? 20000);
const RATE = Number(process.env.BENCH_QUEUE_RATE ?? 1500);
const RUNS = Number(process.env.BENCH_QUEUE_RUNS ?? 2);
const VARIANTS = (process.env.BENCH_QUEUE_VARIANTS ?? 'A,B,B-poll').split(',') as Variant[];
const BATCH = Math.max(1, Math.round(RATE / 100));
const CLAIM_SIZE = 64;
const QUEUE = 'recharge';

type Variant = 'A' | 'B' | 'B-poll';
type Instance = { wake(): void; stop(): Promise<void> };
type Latency = { p50: number; p99: number };
type Result = Latency & { variant: Variant; run: number; offered: number; perSecond: number; perJob: number };

let statements = 0;
/** Every statement of the workload goes through here, so that it is counted. */
function run(db: pg.Pool | pg.PoolClient, text: string, values: unknown[] = [], name?: string) {
  statements += 1;
  return db.query(name ? { name, text, values } : { text, values });
}
const asDb = (db: pg.Pool | pg.PoolClient) => ({
  executeSql: (text: string, values: unknown[]) => run(db, text, values),
});

/** The carrier: 1 ms per call, a batch's calls at once. */
const callCarrier = (count: number) => Promise.all(Array.from({ length: count }, () => sleep(1)));

const TABLE = (s: string) => `
  create table ${s}.recharges (
    id uuid primary key, created_at timestamptz not null, phone_number text not null, value_cents integer not null,
    status text not null, updated_at timestamptz not null, attempts integer not null default 0,
    claims integer not null default 0, next_step text, next_attempt_at timestamptz)`;
const INSERT = (s: string, due: boolean) => `
  insert into ${s}.recharges (id, created_at, phone_number, value_cents, status, updated_at, next_step,
                              next_attempt_at)
  select id, statement_timestamp(), phone, value, 'pending', statement_timestamp(),
         ${due ? `'send', statement_timestamp()` : 'null, null'}
  from unnest($1::uuid[], $2::text[], $3::integer[]) as t(id, phone, value)`;
// The dispatcher's CLAIM and RECORD (src/modules/dispatcher/dispatcher.repository.ts), cut to what differs
// between the variants: $1 how many, $2 lease ms; then $1 ids, $2 claims.
const CLAIM = (s: string) => `
  with due as (
    select id, next_step from ${s}.recharges
    where status in ('pending', 'processing') and next_attempt_at <= statement_timestamp()
    order by next_attempt_at limit $1 for update skip locked
  )
  update ${s}.recharges r set status = 'processing', updated_at = statement_timestamp(),
    attempts = r.attempts + 1, claims = r.claims + 1, next_step = 'query',
    next_attempt_at = statement_timestamp() + make_interval(secs => $2::integer / 1000.0)
  from due where r.id = due.id
  returning r.id, r.claims`;
const RECORD = (s: string) => `
  update ${s}.recharges r set status = 'completed', updated_at = statement_timestamp(), next_step = null,
    next_attempt_at = null
  from unnest($1::uuid[], $2::integer[]) as t(id, claims)
  where r.id = t.id and r.claims = t.claims`;
const MARK_DONE = (s: string) => `
  update ${s}.recharges set status = 'completed', updated_at = statement_timestamp() where id = any($1::uuid[])`;

/** Variant A: one instance's dispatcher loop — claim while woken, call, record; a claim short of 64 rests. */
function rowOutboxInstance(pool: pg.Pool, s: string): Instance {
  let wanted = false;
  let wakes = 0;
  let loop: Promise<void> | undefined;
  let stopped = false;
  async function drain() {
    while (wanted && !stopped) {
      const wakesBefore = wakes;
      const { rows } = await run(pool, CLAIM(s), [CLAIM_SIZE, 30_000], 'bench_claim');
      // As the dispatcher does: a wake during the claim may be for a row its snapshot did not see.
      if (rows.length < CLAIM_SIZE && wakes === wakesBefore) wanted = false;
      if (rows.length === 0) continue;
      await callCarrier(rows.length);
      await run(pool, RECORD(s), [rows.map((r) => r.id), rows.map((r) => r.claims)], 'bench_record');
    }
    loop = undefined;
  }
  const wake = () => {
    wakes += 1;
    wanted = true;
    loop ??= drain();
  };
  const poll = setInterval(wake, 1000);
  return {
    wake,
    async stop() {
      stopped = true;
      clearInterval(poll);
      await loop;
    },
  };
}

/** Variants B and B-poll: one pg-boss per instance on the instance's pool, one `work` worker. */
async function pgBossInstance(pool: pg.Pool, s: string, notify: boolean): Promise<Instance> {
  const boss = new PgBoss({ db: asDb(pool), schema: `${s}_boss`, supervise: false, schedule: false });
  boss.on('error', (error) => console.error('pg-boss:', error));
  await boss.start();
  const worker = await boss.work<{ id: string }>(
    QUEUE,
    { batchSize: notify ? CLAIM_SIZE : 512, pollingIntervalSeconds: 0.5 },
    async (jobs) => {
      await callCarrier(jobs.length);
      await run(pool, MARK_DONE(s), [jobs.map((job) => job.data.id)], 'bench_mark_done');
    },
  );
  return {
    wake: () => notify && boss.notifyWorker(worker),
    stop: () => boss.stop({ graceful: true, close: false, timeout: 5000 }),
  };
}

async function measure(variant: Variant, runNo: number, admin: pg.Pool): Promise<Result> {
  const s = `bench_queue_${process.pid}_${variant.replace('-', '_').toLowerCase()}_${runNo}`;
  const pools = [0, 1, 2].map(() => new pg.Pool({ connectionString: URL, max: 4 }));
  const [producerPool, ...instancePools] = pools as [pg.Pool, pg.Pool, pg.Pool];
  const boss = variant !== 'A';
  try {
    await admin.query(`create schema ${s}`);
    await admin.query(TABLE(s));
    if (!boss) {
      await admin.query(
        `create index on ${s}.recharges (next_attempt_at) where status in ('pending', 'processing')`,
      );
    }
    // The producer's pg-boss only builds job inserts (and installs the schema and queue once).
    const producerBoss = boss
      ? new PgBoss({ db: asDb(producerPool), schema: `${s}_boss`, supervise: false, schedule: false })
      : undefined;
    if (producerBoss) {
      await producerBoss.start();
      await producerBoss.createQueue(QUEUE);
    }
    const instances = await Promise.all(
      instancePools.map((pool) =>
        boss ? pgBossInstance(pool, s, variant === 'B') : Promise.resolve(rowOutboxInstance(pool, s)),
      ),
    );

    async function produce(k: number, ids: string[]) {
      const values = [
        ids,
        ids.map((_, i) => `+55119${String(k * BATCH + i).padStart(8, '0')}`),
        ids.map(() => 1000),
      ];
      if (!producerBoss) {
        await run(producerPool, INSERT(s, true), values, 'bench_insert_due');
      } else {
        const client = await producerPool.connect();
        try {
          await run(client, 'begin');
          await run(client, INSERT(s, false), values, 'bench_insert');
          await producerBoss.insert(
            ids.map((id) => ({ id, name: QUEUE, data: { id } })),
            { db: asDb(client) },
          );
          await run(client, 'commit');
        } finally {
          client.release();
        }
      }
      instances[k % instances.length]?.wake();
    }

    statements = 0;
    const started = performance.now();
    const inserts: Promise<void>[] = [];
    for (let k = 0; k * BATCH < N; k += 1) {
      const wait = started + (k * BATCH * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      const size = Math.min(BATCH, N - k * BATCH);
      inserts.push(
        produce(
          k,
          Array.from({ length: size }, () => uuidv7()),
        ),
      );
    }
    await Promise.all(inserts);
    const offered = N / ((performance.now() - started) / 1000);

    const finished = boss
      ? `from ${s}.recharges r join ${s}_boss.job j on j.id = r.id where r.status = 'completed' and j.state = 'completed'`
      : `from ${s}.recharges r where r.status = 'completed'`;
    const deadline = Date.now() + 120_000;
    while (Number((await admin.query(`select count(*) as n ${finished}`)).rows[0].n) < N) {
      if (Date.now() > deadline) throw new Error(`${variant}: not all ${N} recharges completed in time`);
      await sleep(100);
    }
    const jobStatements = statements;
    await Promise.all(instances.map((instance) => instance.stop()));
    await producerBoss?.stop({ graceful: true, close: false, timeout: 1000 });

    const doneAt = boss ? 'greatest(r.updated_at, j.completed_on)' : 'r.updated_at';
    const { rows } = await admin.query(`
      select extract(epoch from max(${doneAt}) - min(r.created_at))::float8 as span,
             percentile_cont(0.5) within group (order by extract(epoch from ${doneAt} - r.created_at)) * 1000 as p50,
             percentile_cont(0.99) within group (order by extract(epoch from ${doneAt} - r.created_at)) * 1000 as p99
      ${finished}`);
    const { span, p50, p99 } = rows[0] as Latency & { span: number };
    const perJob = jobStatements / N;
    const result: Result = { variant, run: runNo, offered, perSecond: N / span, p50, p99, perJob };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await Promise.all(pools.map((pool) => pool.end()));
    await admin.query(`drop schema if exists ${s} cascade; drop schema if exists ${s}_boss cascade`);
  }
}

const admin = new pg.Pool({ connectionString: URL, max: 1 });
const results: Result[] = [];
try {
  console.log(`N=${N}, offered ${RATE}/s in batches of ${BATCH}, 2 instances, claim/batch ${CLAIM_SIZE}`);
  for (let runNo = 1; runNo <= RUNS; runNo += 1) {
    for (const variant of VARIANTS) results.push(await measure(variant, runNo, admin));
  }
} finally {
  await admin.end();
}
const fmt = (value: number, digits = 0) => value.toFixed(digits).padStart(9);
console.log(
  '\nvariant  run  offered/s completed/s    p50 ms    p99 ms  stmts/job  targets (≥1000/s, p99 ≤1000 ms)',
);
for (const r of results) {
  const pass = r.perSecond >= 1000 && r.p99 <= 1000 ? 'PASS' : 'FAIL';
  console.log(
    `${r.variant.padEnd(8)} ${String(r.run).padStart(3)} ${fmt(r.offered)} ${fmt(r.perSecond)}  ${fmt(r.p50, 1)} ${fmt(r.p99, 1)} ${fmt(r.perJob, 2)}  ${pass}`,
  );
}
