/**
 * `npm run bench`: the compiled service against a bare Fastify 5 hello-world on the same machine and core, so
 * the numbers read as "share of the framework's ceiling" rather than absolutes. One run has six phases:
 *
 * - growth: p50 of `GET /PhoneRecharges?phone_number=…&limit=20` (10 connections) on an almost empty table,
 *   then again after 1 000 000 recharges of other numbers are seeded with SQL: the listing must not slow
 *   down as the table grows (target ≤ 2×);
 * - throughput: req/s and p99 at 50 connections, alternating rounds of hello GET, cached catalog GET, hello
 *   POST and recharge POST (each POST with its own Idempotency-Key), each round in a hello-world and a service
 *   process started for it; medians, and the median of each round's own ratio (targets catalog ≥ 0.50 ×
 *   hello GET, recharge ≥ 0.20 × hello POST, its dispatcher running, p99 < 25 ms). The table holds the seeded million by then;
 * - cpu: the CPU time (user + system) the server process spends per request, and PostgreSQL's, at a fixed
 *   rate well below saturation (GET 10 000/s, POST 2 000/s) for each of those four targets: steadier than
 *   saturated req/s on a noisy machine, and what a change to the per-request work shows up in;
 * - memory: BENCH_MEMORY_REQUESTS (default 1 000 000) requests, catalog GETs with one recharge POST in
 *   BENCH_MEMORY_POST_EVERY, while the server's RSS is read every second (targets < 200 MB at the end, and a
 *   floor — the lowest RSS, after GC — no higher in the last quarter than in the third);
 * - lifecycle: recharge POSTs at a fixed rate (BENCH_LIFECYCLE_RATE, default 1200/s) dispatched to the
 *   sandbox carrier by the service's own dispatcher, until every one is final: the rate at which they
 *   become completed (target ≥ 1000/s), and accepted → completed p50/p99 (target p99 ≤ 1 s), beside a
 *   saturated hello POST of the same run;
 * - profile (only with BENCH_PROFILE=1, or BENCH_ONLY=profile): one server process per endpoint under
 *   `node --cpu-prof`, a catalog-GET-only run and a POST-only run, summarised by function and by package.
 *
 * Targets are reported (PASS/FAIL), not asserted: the exit code is 1 only for errors, which include any
 * non-2xx answer, socket error or timeout during a measurement.
 *
 * Servers run on CPU 0 and the load generator (this process) on CPU 1 when there are two cores or more, so
 * they do not steal each other's time. PostgreSQL is not pinned: it shares both cores, which is part of
 * what the catalog and recharge numbers measure. Load shedding is off (OVERLOAD_MAX_EVENT_LOOP_DELAY_MS=0)
 * and the rate limits are on but set to their maxima, so the numbers measure the service, not a 503 or 429.
 *
 * Environment: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_MEMORY_REQUESTS (1000000),
 * BENCH_MEMORY_POST_EVERY (10), BENCH_GROWTH_ROWS (1000000), BENCH_PROFILE (unset), BENCH_ONLY
 * (comma-separated phases: growth, throughput, cpu, memory, lifecycle, profile), BENCH_LOG_LEVEL (warn),
 * DATABASE_URL (default the local test database), BENCH_REDIS_URL (default the local Redis: the production
 * configuration, after which the throughput and lifecycle phases run again without Redis, the single-instance
 * configuration; empty to run only without), BENCH_LIFECYCLE_RATE (1200); for experiments only, BENCH_SERVICE_NODE_OPTIONS (the service's
 * NODE_OPTIONS) and BENCH_SERVICE_ENTRY (another build to run instead of dist/server.js). Other variables of
 * the service (e.g. DB_POOL_SIZE) pass through from this environment unless the bench sets them itself.
 * Results go to stdout and bench-results/latest.json; profiles to bench-results/profiles/.
 *
 * The code is in scripts/bench/: main.ts runs the phases, one module each (growth, throughput, lifecycle,
 * cpu, memory, profile), on shared set-up (config, machine, database, servers, cleanup), load generation
 * (load), reporting (report) and process CPU accounting from /proc (proc).
 */
import { main } from './bench/main.js';

await main();
