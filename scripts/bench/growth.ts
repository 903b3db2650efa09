/** The growth phase: the phone-number listing's p50 on an almost empty table, and after GROWTH_ROWS more rows. */
import {
  GROWTH_CONNECTIONS,
  GROWTH_ROWS,
  GROWTH_SECONDS,
  LISTING_LIMIT,
  MEASURED_PHONE_NUMBER,
  MEASURED_ROWS,
  ROUNDS,
  TARGETS_LIMITS,
  type Target,
  WARMUP_SECONDS,
} from './config.js';
import { adminQuery } from './database.js';
import { assertOnlySuccesses, load, requestSpec } from './load.js';
import { verdict } from './report.js';
import type { Server } from './servers.js';
import { median, percentile, progress, round3 } from './util.js';

type LatencyRun = { p50Ms: number; p99Ms: number; requestsPerSecond: number; requests: number };

/** p50 of the phone-number listing before and after the table grows by GROWTH_ROWS recharges of others. */
export async function growthPhase(service: Server, schema: string) {
  // The measured number's own rows, so both measurements return the same full page (and a next link).
  await adminQuery(
    `insert into ${schema}.recharges (id, created_at, company_id, product_id, phone_number, value_cents, client,
                                      status, updated_at)
     select gen_random_uuid(), now() - make_interval(hours => g), 'claro_11', 'claro_10',
            '${MEASURED_PHONE_NUMBER}', 1000, 'bench_seed', 'completed', now() - make_interval(hours => g)
     from generate_series(1, ${MEASURED_ROWS}) g`,
  );
  const listing: Target = {
    name: 'phone number listing',
    server: 'service',
    method: 'GET',
    path: `/PhoneRecharges?phone_number=${MEASURED_PHONE_NUMBER}&limit=${LISTING_LIMIT}`,
  };
  await verifyListing(service.baseUrl, listing);
  const rowsBefore = await countRecharges(schema);
  progress(`growth: listing on ${rowsBefore} rows…`);
  const before = await measureLatency(listing, service.baseUrl);

  progress(`growth: seeding ${GROWTH_ROWS} recharges of other numbers…`);
  const seedStarted = Date.now();
  // 200 000 other numbers (DDD 21, so never the measured one), five recharges each, over the past year; all
  // completed long ago, as a real table's would be.
  await adminQuery(
    `insert into ${schema}.recharges (id, created_at, company_id, product_id, phone_number, value_cents, client,
                                      status, updated_at)
     select gen_random_uuid(), now() - make_interval(secs => g * 30),
            case when g % 2 = 0 then 'claro_11' else 'tim_11' end,
            case when g % 2 = 0 then 'claro_10' else 'tim_20' end,
            '55219' || lpad((g % 200000)::text, 8, '0'),
            case when g % 2 = 0 then 1000 else 2000 end,
            'bench_seed_' || (g % 10), 'completed', now() - make_interval(secs => g * 30)
     from generate_series(1, ${GROWTH_ROWS}) g`,
  );
  const seedSeconds = (Date.now() - seedStarted) / 1000;
  // What autovacuum would do shortly anyway, done now so it does not run during later measurements; the
  // checkpoint likewise flushes the seeding's WAL before anything is timed.
  const vacuumStarted = Date.now();
  await adminQuery(`vacuum (analyze) ${schema}.recharges`);
  await adminQuery('checkpoint');
  const vacuumSeconds = (Date.now() - vacuumStarted) / 1000;
  const rowsAfter = await countRecharges(schema);
  const sizes = await adminQuery(
    `select pg_size_pretty(pg_table_size('${schema}.recharges')) as table_size,
            pg_size_pretty(pg_indexes_size('${schema}.recharges')) as indexes_size`,
  );
  const plan = await adminQuery(
    `explain (analyze, buffers, costs off)
     select id, created_at, company_id, product_id, phone_number, value_cents from ${schema}.recharges
     where phone_number = '${MEASURED_PHONE_NUMBER}' order by created_at, id limit ${LISTING_LIMIT + 1}`,
  );
  await verifyListing(service.baseUrl, listing);
  progress(`growth: listing on ${rowsAfter} rows…`);
  const after = await measureLatency(listing, service.baseUrl);
  return {
    path: listing.path,
    connections: GROWTH_CONNECTIONS,
    seconds: GROWTH_SECONDS,
    rounds: ROUNDS,
    rowsBefore,
    rowsAfter,
    seedSeconds,
    vacuumSeconds,
    tableSize: String(sizes.rows[0]?.table_size),
    indexesSize: String(sizes.rows[0]?.indexes_size),
    planAfter: plan.rows.map((row) => String(row['QUERY PLAN'])),
    before,
    after,
    p50Ratio: after.p50Ms / before.p50Ms,
  };
}

async function countRecharges(schema: string): Promise<number> {
  const { rows } = await adminQuery(`select count(*)::int as n from ${schema}.recharges`);
  return Number(rows[0]?.n);
}

// The listing must answer a full page for the measured number, or the comparison means nothing.
async function verifyListing(baseUrl: string, listing: Target): Promise<void> {
  const response = await fetch(`${baseUrl}${listing.path}`, {
    headers: requestSpec(listing).headers,
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  const items = response.ok ? (JSON.parse(text) as unknown[]) : [];
  if (!response.ok || items.length !== LISTING_LIMIT || !response.headers.get('link'))
    throw new Error(`${listing.path} answered ${response.status} ${text.slice(0, 300)}`);
}

/** Median over rounds of the exact p50 (autocannon's histogram keeps whole milliseconds only). */
async function measureLatency(target: Target, baseUrl: string) {
  const spec = requestSpec(target);
  const measure = async (seconds: number) => {
    const latencies: number[] = [];
    const tracker = load(baseUrl, [spec], { seconds, connections: GROWTH_CONNECTIONS });
    tracker.on('response', (_client, _status, _bytes, milliseconds) => {
      latencies.push(milliseconds);
    });
    const result = await tracker;
    await assertOnlySuccesses(target.name, baseUrl, [spec], result);
    latencies.sort((a, b) => a - b);
    return {
      p50Ms: round3(percentile(latencies, 0.5)),
      p99Ms: round3(percentile(latencies, 0.99)),
      requestsPerSecond: result.requests.average,
      requests: result.requests.total,
    };
  };
  await measure(WARMUP_SECONDS);
  const runs: LatencyRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const run = await measure(GROWTH_SECONDS);
    runs.push(run);
    progress(
      `  round ${round}/${ROUNDS}  p50 ${run.p50Ms} ms  p99 ${run.p99Ms} ms  ${run.requestsPerSecond.toFixed(0)} req/s`,
    );
  }
  return {
    p50Ms: median(runs.map((run) => run.p50Ms)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    requestsPerSecond: median(runs.map((run) => run.requestsPerSecond)),
    runs,
  };
}

export function growthReport(growth: Awaited<ReturnType<typeof growthPhase>>): string[] {
  const row = (label: string, rows: number, result: typeof growth.before) =>
    `${label.padEnd(22)}${String(rows).padStart(10)}${result.p50Ms.toFixed(3).padStart(10)}` +
    `${result.p99Ms.toFixed(3).padStart(10)}${result.requestsPerSecond.toFixed(0).padStart(9)}   ` +
    result.runs.map((run) => run.p50Ms.toFixed(3)).join(' / ');
  return [
    '',
    `GROWTH  GET ${growth.path} (admin key), ${growth.connections} connections, ` +
      `${growth.rounds} rounds × ${growth.seconds} s; exact latencies, medians of the rounds`,
    `${'table'.padEnd(22)}${'rows'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'req/s'.padStart(9)}   p50 per round`,
    row('almost empty', growth.rowsBefore, growth.before),
    row('after seeding', growth.rowsAfter, growth.after),
    `seeded in ${growth.seedSeconds.toFixed(1)} s, vacuum analyze + checkpoint ${growth.vacuumSeconds.toFixed(1)} s; ` +
      `recharges: table ${growth.tableSize}, indexes ${growth.indexesSize}`,
    `plan after seeding: ${growth.planAfter.map((line) => line.trim()).join(' | ')}`,
    verdict(
      'listing p50 after / before',
      `${growth.p50Ratio.toFixed(2)}×`,
      `≤ ${TARGETS_LIMITS.growthRatio}×`,
      growth.p50Ratio <= TARGETS_LIMITS.growthRatio,
    ),
  ];
}
