/** The benchmark's settings (from the environment), limits, targets and the service's environment. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDockerfile, parseEnv } from '../dockerfile.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_FILE = path.join(ROOT, 'bench-results', 'latest.json');
export const PROFILE_DIR = path.join(ROOT, 'bench-results', 'profiles');

export const PHASES = ['growth', 'throughput', 'cpu', 'memory', 'lifecycle', 'profile'] as const;
export type Phase = (typeof PHASES)[number];

export const SECONDS = positiveIntegerFromEnv('BENCH_SECONDS', 10);
export const ROUNDS = positiveIntegerFromEnv('BENCH_ROUNDS', 3);
export const MEMORY_REQUESTS = positiveIntegerFromEnv('BENCH_MEMORY_REQUESTS', 1_000_000);
export const MEMORY_POST_EVERY = positiveIntegerFromEnv('BENCH_MEMORY_POST_EVERY', 10);
export const GROWTH_ROWS = positiveIntegerFromEnv('BENCH_GROWTH_ROWS', 1_000_000);
export const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'warn';
// For experiments only: another build of the service (e.g. a patched copy of dist/) to run instead.
export const SERVICE_ENTRY = process.env.BENCH_SERVICE_ENTRY || 'dist/server.js';
export const HELLO_ARGS = ['--import', 'tsx', 'scripts/hello-server.ts'];
export const SELECTED = selectedPhases();
export const WARMUP_SECONDS = 2;
export const CONNECTIONS = 50;
export const GROWTH_CONNECTIONS = 10;
export const GROWTH_SECONDS = Math.max(3, Math.ceil(SECONDS / 2));
export const PIPELINING = 1;
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// The production configuration is PostgreSQL and Redis; BENCH_REDIS_URL= (empty) measures without Redis.
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
// Offered above the 1000/s target: what is measured is the rate at which recharges become completed.
export const LIFECYCLE_RATE = positiveIntegerFromEnv('BENCH_LIFECYCLE_RATE', 1200);
/** How long the lifecycle phase waits, after the load, for the last recharges to become final. */
export const LIFECYCLE_DRAIN_MS = 30_000;
export const SERVER_CPU = '0';
export const LOADER_CPU = '1';
export const READY_TIMEOUT_MS = 30_000;
export const STOP_GRACE_MS = 5000;
// A profiled process writes its profile on exit, which takes a moment for a large one.
export const PROFILE_STOP_GRACE_MS = 30_000;
export const RSS_SAMPLE_MS = 1000;
export const OUTPUT_TAIL_CHARS = 4096;
export const HEAP_SAMPLE_MS = 5000;
// USER_HZ: the unit of /proc/stat and /proc/<pid>/stat times, 100 on every Linux this runs on.
export const TICKS_PER_SECOND = 100;
export const PROGRESS_EVERY_MS = 15_000;
// Above this 1-minute load average before the start, something else is using the cores we measure on.
export const BUSY_LOAD = 0.5;
// Other processes using more than this share of the machine during a phase make its numbers suspect.
export const BUSY_SHARE = 0.1;

// Saturated req/s moves with the machine's noise and with the load generator's own limit (the hello-world's);
// the CPU time a server spends per request, at a rate both it and the load generator keep up with, moves
// much less, and says what a change saves. Rates well below every target's saturation on two cores.
export const CPU_RATES = { GET: 10_000, POST: 2_000 } as const;

export const TARGETS_LIMITS = {
  catalogRatio: 0.5,
  rechargeRatio: 0.2,
  lifecycleRate: 1000,
  lifecycleP99Ms: 1000,
  webhookP99Ms: 2000,
  p99Ms: 25,
  catalogP99Ms: 10,
  growthRatio: 2,
  rssMb: 200,
  // "Not growing": the RSS floor (lowest sample) of the last quarter is less than this above the third's.
  rssDriftMb: 5,
};

// Sent to the service (docs/api.md). The hello server gets the same headers so both see requests of the
// same size.
export const API_KEY = `bench_${randomBytes(24).toString('hex')}`;
export const RUN_ID = randomBytes(4).toString('hex');
const POSTED_PHONE_NUMBER = '5511999999999';
const RECHARGE_BODY = JSON.stringify({
  company_id: 'claro_11',
  product_id: 'claro_10',
  phone_number: POSTED_PHONE_NUMBER,
  value: 10,
});
// The growth phase lists this number; the seeded million belong to other numbers (DDD 21).
export const MEASURED_PHONE_NUMBER = '5511987654321';
export const MEASURED_ROWS = 50;
export const LISTING_LIMIT = 20;

// The service runs with the NODE_OPTIONS of the image's runtime stage (its heap cap), as deployed; for
// experiments, BENCH_SERVICE_NODE_OPTIONS replaces them (e.g. --max-semi-space-size).
export const SERVICE_NODE_OPTIONS = process.env.BENCH_SERVICE_NODE_OPTIONS ?? imageNodeOptions();

function imageNodeOptions(): string | undefined {
  const stages = parseDockerfile(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'));
  const env = stages
    .at(-1)
    ?.instructions.filter(({ keyword }) => keyword === 'ENV')
    .map(({ args }) => parseEnv(args));
  return Object.assign({}, ...(env ?? [])).NODE_OPTIONS;
}

// Environment of every service process. The rate limits stay on (the hooks run and count) at their maxima,
// which src/config.ts caps at 1 000 000 a minute per key and per client and 10 000 000 per address.
export const SERVICE_ENV = {
  ...(SERVICE_NODE_OPTIONS ? { NODE_OPTIONS: SERVICE_NODE_OPTIONS } : {}),
  SEED_DEMO_DATA: 'true',
  LOG_LEVEL,
  NODE_ENV: 'production',
  ADMIN_API_KEY: API_KEY,
  RATE_LIMIT_PER_MINUTE: '1000000',
  RATE_LIMIT_PER_IP_PER_MINUTE: '10000000',
  RECHARGES_PER_CLIENT_PER_MINUTE: '1000000',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
  // The lifecycle phase's webhook receiver listens on 127.0.0.1, over http.
  WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
  // A prefix of its own per run: Redis outlives the run's schema, and another run's cached catalog would
  // answer for this one's.
  ...(REDIS_URL ? { REDIS_URL, REDIS_PREFIX: `bench-${RUN_ID}:` } : {}),
};

export type ServerName = 'hello' | 'service';
export type Target = {
  name: string;
  server: ServerName;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** A fresh Idempotency-Key on every request (built per request by autocannon's setupRequest). */
  idempotencyKey?: boolean;
};

export const CATALOG_GET: Target = {
  name: 'catalog GET',
  server: 'service',
  method: 'GET',
  path: '/CompanyProducts?company_id=claro_11',
};
export const RECHARGE_POST: Target = {
  name: 'recharge POST',
  server: 'service',
  method: 'POST',
  path: '/PhoneRecharges',
  body: RECHARGE_BODY,
  idempotencyKey: true,
};
export const HELLO_GET: Target = { name: 'hello GET', server: 'hello', method: 'GET', path: '/hello' };
// Run in this order every round, so slow drift (thermal, neighbours) spreads over all targets.
export const TARGETS: Target[] = [
  HELLO_GET,
  CATALOG_GET,
  {
    name: 'hello POST',
    server: 'hello',
    method: 'POST',
    path: '/hello',
    body: RECHARGE_BODY,
    idempotencyKey: true,
  },
  RECHARGE_POST,
];

function selectedPhases(): Set<Phase> {
  const only = process.env.BENCH_ONLY?.trim();
  if (!only) {
    const profile = ['1', 'true', 'yes'].includes((process.env.BENCH_PROFILE ?? '').toLowerCase());
    return new Set<Phase>([
      'growth',
      'throughput',
      'cpu',
      'memory',
      'lifecycle',
      ...(profile ? (['profile'] as const) : []),
    ]);
  }
  const names = only.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(PHASES as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(`BENCH_ONLY: unknown phase ${unknown.join(', ')}; phases are ${PHASES.join(', ')}`);
  // Always in the order above, whatever order they are named in.
  return new Set(PHASES.filter((phase) => names.includes(phase)));
}

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}
