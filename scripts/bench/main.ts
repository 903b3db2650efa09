/** The run: set-up, the selected phases in order, the report and bench-results/latest.json, the clean-up. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatSummary } from '../cpuprofile-summary.js';
import { abort, runCleanups } from './cleanup.js';
import {
  CONNECTIONS,
  DATABASE_URL,
  GROWTH_CONNECTIONS,
  GROWTH_ROWS,
  GROWTH_SECONDS,
  LOG_LEVEL,
  MEMORY_POST_EVERY,
  MEMORY_REQUESTS,
  type Phase,
  PIPELINING,
  RECHARGE_POST,
  RESULTS_FILE,
  ROOT,
  ROUNDS,
  SECONDS,
  SELECTED,
  SERVICE_ENTRY,
  SERVICE_ENV,
  SERVICE_NODE_OPTIONS,
  WARMUP_SECONDS,
} from './config.js';
import { cpuPhase, cpuReport } from './cpu.js';
import {
  createSchema,
  describeDatabase,
  verifyRechargesStored,
  verifyServiceUsesSchema,
  withSearchPath,
} from './database.js';
import { growthPhase, growthReport } from './growth.js';
import { lifecyclePhase, lifecycleReport } from './lifecycle.js';
import { buildService, decidePinning, describeMachine, pinThisProcess } from './machine.js';
import { memoryPhase, memoryReport, readRssMb } from './memory.js';
import { inPhase, ownPids, parentOf, phaseLoads } from './proc.js';
import { profilePhase } from './profile.js';
import { printReport } from './report.js';
import { type Server, startRoundServers, startServers, stopServer } from './servers.js';
import { runAllRounds, summarizeThroughput, throughputReport } from './throughput.js';
import { progress } from './util.js';

export async function main(): Promise<void> {
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
  for (let pid = process.ppid; pid > 1; pid = parentOf(pid)) ownPids.add(pid);
  progress(`phases: ${[...SELECTED].join(', ')}; building (npm run build)…`);
  buildService();
  if (pinning.enabled) pinThisProcess();

  const schema = await createSchema();
  const serviceUrl = withSearchPath(DATABASE_URL, schema);
  const database = await describeDatabase(serviceUrl, schema);
  machine.postgres = database.version;
  machine.postgresSettings = database.settings;
  const serviceEnv = { ...SERVICE_ENV, DATABASE_URL: serviceUrl };

  const results: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    phases: [...SELECTED],
    settings: {
      seconds: SECONDS,
      rounds: ROUNDS,
      warmupSeconds: WARMUP_SECONDS,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      growthConnections: GROWTH_CONNECTIONS,
      growthSeconds: GROWTH_SECONDS,
      growthRows: GROWTH_ROWS,
      memoryRequests: MEMORY_REQUESTS,
      memoryPostEvery: MEMORY_POST_EVERY,
      logLevel: LOG_LEVEL,
      serviceEntry: SERVICE_ENTRY,
      serviceNodeOptions: SERVICE_NODE_OPTIONS ?? null,
      serviceEnv: { ...SERVICE_ENV, ADMIN_API_KEY: '[random per run]' },
    },
    machine,
    pinning,
  };
  const report: string[] = [];

  const needsService = ['growth', 'throughput', 'cpu', 'memory'].some((phase) =>
    SELECTED.has(phase as Phase),
  );
  if (needsService) {
    // The hello-world only for the cpu phase: the throughput phase starts its own each round.
    const { hello, service } = await startServers(serviceEnv, pinning, { withHello: SELECTED.has('cpu') });
    await verifyServiceUsesSchema(schema);
    const rssAfterStartMb = readRssMb(service);
    results.rssAfterStartMb = rssAfterStartMb;

    let postsMeasured = 0;
    if (SELECTED.has('growth')) {
      const growth = await inPhase('growth', () => growthPhase(service, schema));
      results.growth = growth;
      report.push(...growthReport(growth));
    }
    if (SELECTED.has('throughput')) {
      // The production configuration first; then, when it has Redis, the single-instance one beside it.
      for (const [label, env] of configurations(serviceEnv)) {
        const runs = await inPhase(`throughput${label ? ' single' : ''}`, () =>
          runAllRounds(() => startRoundServers(env, pinning)),
        );
        const throughput = summarizeThroughput(runs);
        results[label ? 'throughputSingleInstance' : 'throughput'] = throughput;
        report.push(...throughputReport(throughput, label));
        postsMeasured += (runs.get(RECHARGE_POST.name) ?? []).reduce((sum, run) => sum + run.twoXx, 0);
      }
    }
    if (SELECTED.has('cpu')) {
      const servers = { hello: hello as Server, service };
      const cpu = await inPhase('cpu', () => cpuPhase(servers));
      results.cpu = cpu;
      report.push(...cpuReport(cpu));
      postsMeasured += cpu.find((row) => row.name === RECHARGE_POST.name)?.requests ?? 0;
    }
    if (hello) await stopServer(hello);
    if (SELECTED.has('memory')) {
      const memory = await inPhase('memory', () => memoryPhase(service, rssAfterStartMb));
      results.memory = memory;
      report.push(...memoryReport(memory));
      postsMeasured += memory.postsAtLeast;
    }
    results.database = await verifyRechargesStored(schema, postsMeasured);
    await stopServer(service);
  }

  if (SELECTED.has('lifecycle')) {
    for (const [label, env] of configurations(serviceEnv)) {
      const lifecycle = await inPhase(`lifecycle${label ? ' single' : ''}`, () =>
        lifecyclePhase(env, pinning, schema),
      );
      results[label ? 'lifecycleSingleInstance' : 'lifecycle'] = lifecycle;
      report.push(...lifecycleReport(lifecycle, label));
    }
  }

  if (SELECTED.has('profile')) {
    const profiles = await inPhase('profile', () => profilePhase(serviceEnv, pinning));
    results.profiles = profiles;
    for (const profile of profiles) report.push('', formatSummary(profile.summary, profile.title));
  }

  results.phaseLoads = phaseLoads;
  results.finishedAt = new Date().toISOString();
  printReport(machine, pinning, report, results);
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nwritten to ${path.relative(ROOT, RESULTS_FILE)}\n`);
}

/**
 * The configurations a phase runs in: the production one (PostgreSQL and, unless BENCH_REDIS_URL is empty,
 * Redis), labelled '', and with Redis, the single-instance one (no Redis) beside it.
 */
function configurations(serviceEnv: Record<string, string>): [string, Record<string, string>][] {
  if (!serviceEnv.REDIS_URL) return [['', serviceEnv]];
  const { REDIS_URL: _url, REDIS_PREFIX: _prefix, ...single } = serviceEnv;
  return [
    ['', serviceEnv],
    [' (single instance: no Redis)', single],
  ];
}
