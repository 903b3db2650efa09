/**
 * `npm run bench`: throughput and p99 latency of the compiled service against a bare Fastify 5 hello-world
 * on the same machine, so the numbers read as "share of the framework's ceiling" rather than absolutes.
 *
 * Servers run on CPU 0 and the load generator (this process) on CPU 1 when there are two cores or more, so
 * they do not steal each other's time. PostgreSQL is not pinned: it shares both cores, which is part of
 * what the catalog and recharge numbers measure.
 *
 * Environment: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 3), DATABASE_URL (default the local
 * test database). Results go to stdout and bench-results/latest.json.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer } from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

// autocannon ships no types; this is the part of its programmatic API the benchmark uses.
type Histogram = { average: number; p50: number; p99: number; max: number };
type LoadResult = {
  requests: Histogram & { total: number };
  latency: Histogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
};
type LoadOptions = {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  pipelining: number;
  duration: number;
};
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: LoadOptions,
) => Promise<LoadResult>;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = path.join(ROOT, 'bench-results', 'latest.json');

const SECONDS = positiveIntegerFromEnv('BENCH_SECONDS', 10);
const ROUNDS = positiveIntegerFromEnv('BENCH_ROUNDS', 3);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 50;
const PIPELINING = 1;
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SERVER_CPU = '0';
const LOADER_CPU = '1';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5000;
// Above this 1-minute load average before the start, something else is using the cores we measure on.
const BUSY_LOAD = 0.5;

// Sent to the service once API keys and rate limits exist (SPEC §3); harmless before. The hello server gets
// the same header so both see requests of the same size.
const API_KEY = `bench_${randomBytes(24).toString('hex')}`;
const RECHARGE_BODY = JSON.stringify({
  company_id: 'claro_11',
  product_id: 'claro_10',
  phone_number: '5511999999999',
  value: 10,
});

type ServerName = 'hello' | 'service';
type Target = { name: string; server: ServerName; method: 'GET' | 'POST'; path: string; body?: string };

// Run in this order every round, so slow drift (table growth, thermal, neighbours) spreads over all targets.
const TARGETS: Target[] = [
  { name: 'hello GET', server: 'hello', method: 'GET', path: '/hello' },
  { name: 'catalog GET', server: 'service', method: 'GET', path: '/CompanyProducts?company_id=claro_11' },
  { name: 'hello POST', server: 'hello', method: 'POST', path: '/hello', body: RECHARGE_BODY },
  { name: 'recharge POST', server: 'service', method: 'POST', path: '/PhoneRecharges', body: RECHARGE_BODY },
];

type Run = { round: number; requestsPerSecond: number; p99Ms: number; requests: number; twoXx: number };
type Pinning = { enabled: boolean; reason: string; serverCpu?: string; loaderCpu?: string };
type Machine = {
  nproc: number;
  cpuModel: string;
  node: string;
  postgres?: string;
  /** 1-minute load average before the start: anything else busy on the machine skews the numbers. */
  loadBefore: number;
};
type Server = {
  name: ServerName;
  process: ChildProcess;
  baseUrl: string;
  outputTail: string[];
  exit: Promise<number | null>;
};

// Module state lives above `await main()`: declarations below it are not initialised while it runs.
const cleanups: Array<() => Promise<void>> = [];
let aborting = false;

await main();

async function main(): Promise<void> {
  // `on`, not `once`: Ctrl-C reaches this process twice (from the terminal and relayed by tsx), and a second
  // default-handled SIGINT would kill it before the schema is dropped.
  process.on('SIGINT', () => void abort('SIGINT'));
  process.on('SIGTERM', () => void abort('SIGTERM'));
  let exitCode = 0;
  try {
    await benchmark();
  } catch (error) {
    process.stderr.write(`\nbench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    exitCode = 1;
  } finally {
    await runCleanups();
  }
  // Idle keep-alive sockets of the readiness probes would otherwise hold the event loop open.
  process.exit(exitCode);
}

async function benchmark(): Promise<void> {
  // nproc honours affinity, so it is read before this process pins itself to one core.
  const machine = describeMachine();
  const pinning = decidePinning(machine.nproc);
  progress(`building (npm run build)…`);
  buildService();
  if (pinning.enabled) pinThisProcess();

  const schema = await createSchema();
  const serviceUrl = withSearchPath(DATABASE_URL, schema);
  machine.postgres = await verifySearchPath(serviceUrl, schema);

  const hello = await startServer('hello', ['--import', 'tsx', 'scripts/hello-server.ts'], {}, pinning);
  const service = await startServer(
    'service',
    ['dist/server.js'],
    {
      DATABASE_URL: serviceUrl,
      SEED_DEMO_DATA: 'true',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      ADMIN_API_KEY: API_KEY,
      RATE_LIMIT_PER_MINUTE: '1000000',
    },
    pinning,
  );
  await waitUntilReady(hello, '/hello');
  await waitUntilReady(service, '/readyz');
  if (pinning.enabled) verifyServersPinned([hello, service]);
  await verifyServiceUsesSchema(schema);

  const runs = await runAllRounds({ hello: hello.baseUrl, service: service.baseUrl });
  const recharges = await verifyRechargesStored(schema, runs);
  const results = summarize(machine, pinning, runs, schema, recharges);
  printReport(results);
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nwritten to ${path.relative(ROOT, RESULTS_FILE)}\n`);
}

// ---------------------------------------------------------------------------------------------- set-up

function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    node: process.version,
    loadBefore: round2(loadavg()[0] ?? 0),
  };
}

function decidePinning(nproc: number): Pinning {
  if (nproc < 2) return { enabled: false, reason: `unpinned: nproc is ${nproc}, pinning needs 2 cores` };
  if (spawnSync('taskset', ['--version']).status !== 0)
    return { enabled: false, reason: 'unpinned: taskset is not installed' };
  return {
    enabled: true,
    reason: `servers on CPU ${SERVER_CPU}, load generator on CPU ${LOADER_CPU}, PostgreSQL unpinned`,
    serverCpu: SERVER_CPU,
    loaderCpu: LOADER_CPU,
  };
}

// The benchmark measures the compiled JS that `npm start` runs, never tsx-transpiled sources.
function buildService(): void {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
}

// `-a`: every thread (libuv pool, V8 helpers), not only the main one, which is all `taskset -p` moves.
function pinThisProcess(): void {
  execFileSync('taskset', ['-a', '-cp', LOADER_CPU, String(process.pid)], { stdio: 'ignore' });
  const threads = readdirSync(`/proc/${process.pid}/task`);
  const stray = threads.filter(
    (tid) => allowedCpus(`/proc/${process.pid}/task/${tid}/status`) !== LOADER_CPU,
  );
  if (stray.length > 0) throw new Error(`threads ${stray.join(', ')} of the load generator are not pinned`);
}

function verifyServersPinned(servers: Server[]): void {
  for (const { name, process: child } of servers) {
    const cpus = allowedCpus(`/proc/${child.pid}/status`);
    if (cpus !== SERVER_CPU) throw new Error(`${name} server runs on CPUs ${cpus}, not ${SERVER_CPU}`);
  }
}

function allowedCpus(statusFile: string): string | undefined {
  return /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(statusFile, 'utf8'))?.[1];
}

// A schema of its own keeps the bench's tables (and its many recharge rows) away from everything else.
async function createSchema(): Promise<string> {
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create schema ${schema}`);
  cleanups.push(() => adminQuery(`drop schema if exists ${schema} cascade`).then(() => undefined));
  return schema;
}

function withSearchPath(baseUrl: string, schema: string): string {
  const url = new URL(baseUrl);
  url.searchParams.delete('options');
  const options = `options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  url.search = [url.searchParams.toString(), options].filter(Boolean).join('&');
  return url.toString();
}

// The service reads only DATABASE_URL, so the schema must travel in it: make sure pg passes `options` on.
async function verifySearchPath(url: string, schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ search_path: string; version: string }>(
      "select current_setting('search_path') as search_path, current_setting('server_version') as version",
    );
    const row = rows[0];
    if (row?.search_path !== schema)
      throw new Error(`search_path is "${row?.search_path}", not "${schema}": pg ignored the URL's options`);
    return row.version;
  } finally {
    await client.end();
  }
}

async function verifyServiceUsesSchema(schema: string): Promise<void> {
  const { rows } = await adminQuery(`select count(*)::int as n from ${schema}.companies`);
  if (!(Number(rows[0]?.n) >= 2)) throw new Error(`the service did not seed ${schema}.companies`);
}

async function adminQuery(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

// --------------------------------------------------------------------------------------------- servers

async function startServer(
  name: ServerName,
  nodeArgs: string[],
  env: Record<string, string>,
  pinning: Pinning,
): Promise<Server> {
  const port = await findFreePort();
  const command = pinning.enabled
    ? ['taskset', '-c', SERVER_CPU, 'node', ...nodeArgs]
    : ['node', ...nodeArgs];
  // taskset execs node in place, so the child's pid is node's and signals reach it directly.
  const child = spawn(command[0] as string, command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server: Server = {
    name,
    process: child,
    baseUrl: `http://127.0.0.1:${port}`,
    outputTail: [],
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  // Drained continuously: a full pipe would block the server; the tail explains a failed start.
  const keepTail = (chunk: Buffer) => {
    server.outputTail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    server.outputTail.splice(0, Math.max(0, server.outputTail.length - 40));
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  cleanups.push(() => stopServer(server));
  return server;
}

async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitUntilReady(server: Server, probePath: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = false;
  void server.exit.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${server.name} exited during start-up:\n${server.outputTail.join('\n')}`);
    try {
      const response = await fetch(`${server.baseUrl}${probePath}`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${server.name} not ready after ${READY_TIMEOUT_MS} ms:\n${server.outputTail.join('\n')}`);
}

async function stopServer(server: Server): Promise<void> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return;
  server.process.kill('SIGTERM');
  const code = await Promise.race([server.exit, sleep(STOP_GRACE_MS).then(() => 'timeout' as const)]);
  if (code !== 'timeout') return;
  progress(`${server.name} still running ${STOP_GRACE_MS} ms after SIGTERM; sending SIGKILL`);
  server.process.kill('SIGKILL');
  await server.exit;
}

async function runCleanups(): Promise<void> {
  // Reverse order: servers stop (and release their pools) before their schema is dropped.
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => {
      process.stderr.write(
        `cleanup step failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    });
  }
}

async function abort(signal: string): Promise<void> {
  if (aborting) return;
  aborting = true;
  process.stderr.write(`\n${signal}: stopping servers and dropping the schema\n`);
  await runCleanups();
  process.exit(130);
}

// ------------------------------------------------------------------------------------------------ load

async function runAllRounds(baseUrls: Record<ServerName, string>): Promise<Map<string, Run[]>> {
  const runs = new Map<string, Run[]>(TARGETS.map((target) => [target.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of TARGETS) {
      const url = `${baseUrls[target.server]}${target.path}`;
      await generateLoad(target, url, WARMUP_SECONDS);
      const result = await generateLoad(target, url, SECONDS);
      const run: Run = {
        round,
        requestsPerSecond: result.requests.average,
        p99Ms: result.latency.p99,
        requests: result.requests.total,
        twoXx: result['2xx'],
      };
      runs.get(target.name)?.push(run);
      progress(
        `round ${round}/${ROUNDS}  ${target.name.padEnd(14)} ${run.requestsPerSecond.toFixed(0).padStart(7)} req/s  p99 ${run.p99Ms} ms`,
      );
    }
  }
  return runs;
}

async function generateLoad(target: Target, url: string, seconds: number): Promise<LoadResult> {
  const result = await autocannon({
    url,
    method: target.method,
    headers: requestHeaders(target),
    ...(target.body ? { body: target.body } : {}),
    connections: CONNECTIONS,
    pipelining: PIPELINING,
    duration: seconds,
  });
  await assertOnlySuccesses(target, url, result);
  return result;
}

function requestHeaders(target: Target): Record<string, string> {
  return {
    authorization: `Bearer ${API_KEY}`,
    ...(target.body ? { 'content-type': 'application/json' } : {}),
  };
}

// Throughput of errors says nothing about the service, so any non-2xx, socket error or timeout stops the run.
async function assertOnlySuccesses(target: Target, url: string, result: LoadResult): Promise<void> {
  if (result.non2xx === 0 && result.errors === 0 && result.timeouts === 0) return;
  const statuses = Object.entries(result.statusCodeStats)
    .map(([status, { count }]) => `${status}×${count}`)
    .join(', ');
  throw new Error(
    `${target.name}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts ` +
      `(statuses: ${statuses || 'none'}); one request now answers: ${await sampleResponse(target, url)}`,
  );
}

async function sampleResponse(target: Target, url: string): Promise<string> {
  try {
    const response = await fetch(url, {
      method: target.method,
      headers: requestHeaders(target),
      ...(target.body ? { body: target.body } : {}),
      signal: AbortSignal.timeout(5000),
    });
    return `${response.status} ${(await response.text()).slice(0, 300)}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

// Every 201 stored a row, and requests still in flight when a run ended may have stored one more.
async function verifyRechargesStored(schema: string, runs: Map<string, Run[]>): Promise<number> {
  const { rows } = await adminQuery(`select count(*)::int as n from ${schema}.recharges`);
  const stored = Number(rows[0]?.n);
  const measured = (runs.get('recharge POST') ?? []).reduce((sum, run) => sum + run.twoXx, 0);
  if (!(stored >= measured))
    throw new Error(`${stored} recharges stored, fewer than the ${measured} measured 201 responses`);
  return stored;
}

// --------------------------------------------------------------------------------------------- results

function summarize(
  machine: Machine,
  pinning: Pinning,
  runs: Map<string, Run[]>,
  schema: string,
  rechargesStored: number,
) {
  const targets = TARGETS.map((target) => {
    const targetRuns = runs.get(target.name) ?? [];
    return {
      name: target.name,
      method: target.method,
      path: target.path,
      server: target.server,
      medianRequestsPerSecond: median(targetRuns.map((run) => run.requestsPerSecond)),
      medianP99Ms: median(targetRuns.map((run) => run.p99Ms)),
      runs: targetRuns,
    };
  });
  const medianOf = (name: string) =>
    targets.find((target) => target.name === name)?.medianRequestsPerSecond ?? Number.NaN;
  return {
    finishedAt: new Date().toISOString(),
    settings: {
      seconds: SECONDS,
      rounds: ROUNDS,
      warmupSeconds: WARMUP_SECONDS,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
    },
    machine,
    pinning,
    targets,
    ratios: {
      catalogGetToHelloGet: medianOf('catalog GET') / medianOf('hello GET'),
      rechargePostToHelloPost: medianOf('recharge POST') / medianOf('hello POST'),
    },
    database: { schema, rechargesStored },
  };
}

function printReport(results: ReturnType<typeof summarize>): void {
  const { settings, machine, pinning, targets, ratios } = results;
  const lines = [
    '',
    `rounds ${settings.rounds} × ${settings.seconds} s (after ${settings.warmupSeconds} s warm-up each), ` +
      `${settings.connections} connections, pipelining ${settings.pipelining}`,
    `machine: nproc ${machine.nproc}, ${machine.cpuModel}, node ${machine.node}, PostgreSQL ${machine.postgres}`,
    `pinning: ${pinning.enabled ? 'yes' : 'no'} (${pinning.reason})`,
    `load average (1 min) before the start: ${machine.loadBefore}` +
      (machine.loadBefore > BUSY_LOAD
        ? ' — something else used the CPUs in the last minute; expect noise'
        : ''),
    '',
    `${'target'.padEnd(15)}${'median req/s'.padStart(14)}${'median p99 ms'.padStart(15)}   req/s per round`,
    ...targets.map(
      (target) =>
        `${target.name.padEnd(15)}${target.medianRequestsPerSecond.toFixed(0).padStart(14)}` +
        `${target.medianP99Ms.toFixed(1).padStart(15)}   ${target.runs.map((run) => run.requestsPerSecond.toFixed(0)).join(' / ')}`,
    ),
    '',
    `catalog GET / hello GET      ${ratios.catalogGetToHelloGet.toFixed(3)}`,
    `recharge POST / hello POST   ${ratios.rechargePostToHelloPost.toFixed(3)}`,
    `recharges stored in ${results.database.schema}: ${results.database.rechargesStored} (schema dropped at exit)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

// -------------------------------------------------------------------------------------------- helpers

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

// Progress goes to stderr so stdout holds only the report.
function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}
