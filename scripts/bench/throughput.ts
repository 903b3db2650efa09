/**
 * The throughput phase: req/s and p99 at CONNECTIONS connections, alternating rounds of hello GET, cached
 * catalog GET, hello POST and recharge POST, each round in a hello-world and a service process started for it.
 */
import {
  CONNECTIONS,
  PIPELINING,
  ROUNDS,
  SECONDS,
  TARGETS,
  TARGETS_LIMITS,
  WARMUP_SECONDS,
} from './config.js';
import { generateLoad } from './load.js';
import { verdict } from './report.js';
import type { RoundServers } from './servers.js';
import { median, progress } from './util.js';

export type Run = {
  round: number;
  requestsPerSecond: number;
  p99Ms: number;
  requests: number;
  twoXx: number;
};

export async function runAllRounds(startRound: () => Promise<RoundServers>): Promise<Map<string, Run[]>> {
  const runs = new Map<string, Run[]>(TARGETS.map((target) => [target.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    const servers = await startRound();
    try {
      for (const target of TARGETS) {
        const baseUrl = servers.baseUrls[target.server];
        await generateLoad(target, baseUrl, WARMUP_SECONDS);
        const result = await generateLoad(target, baseUrl, SECONDS);
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
    } finally {
      await servers.stop();
    }
  }
  return runs;
}

export function summarizeThroughput(runs: Map<string, Run[]>) {
  const targets = TARGETS.map((target) => {
    const targetRuns = runs.get(target.name) ?? [];
    return {
      name: target.name,
      method: target.method,
      path: target.path,
      server: target.server,
      idempotencyKeyPerRequest: Boolean(target.idempotencyKey),
      medianRequestsPerSecond: median(targetRuns.map((run) => run.requestsPerSecond)),
      medianP99Ms: median(targetRuns.map((run) => run.p99Ms)),
      runs: targetRuns,
    };
  });
  const byName = (name: string) => targets.find((target) => target.name === name);
  // Each round's own ratio pairs runs a few seconds apart, so a machine that speeds up or slows down between
  // rounds moves both sides of it; the target is judged on the median of these.
  const perRound = (name: string, baseline: string) => {
    const runs = byName(name)?.runs ?? [];
    const baselineRuns = byName(baseline)?.runs ?? [];
    return runs.map(
      (run, round) => run.requestsPerSecond / (baselineRuns[round]?.requestsPerSecond ?? Number.NaN),
    );
  };
  const catalogRounds = perRound('catalog GET', 'hello GET');
  const rechargeRounds = perRound('recharge POST', 'hello POST');
  const rate = (name: string) => byName(name)?.medianRequestsPerSecond ?? Number.NaN;
  return {
    targets,
    ratios: {
      catalogGetToHelloGet: median(catalogRounds),
      rechargePostToHelloPost: median(rechargeRounds),
    },
    ratioRounds: { catalogGetToHelloGet: catalogRounds, rechargePostToHelloPost: rechargeRounds },
    ratiosOfMedians: {
      catalogGetToHelloGet: rate('catalog GET') / rate('hello GET'),
      rechargePostToHelloPost: rate('recharge POST') / rate('hello POST'),
    },
    p99Ms: {
      catalogGet: byName('catalog GET')?.medianP99Ms ?? Number.NaN,
      rechargePost: byName('recharge POST')?.medianP99Ms ?? Number.NaN,
    },
  };
}

export function throughputReport(result: ReturnType<typeof summarizeThroughput>, label = ''): string[] {
  const { targets, ratios, ratioRounds, ratiosOfMedians, p99Ms } = result;
  const rounds = (values: number[]) => values.map((value) => value.toFixed(3)).join(' / ');
  return [
    '',
    `THROUGHPUT${label}  ${ROUNDS} rounds × ${SECONDS} s (after ${WARMUP_SECONDS} s warm-up each), each round in new processes, ` +
      `${CONNECTIONS} connections, pipelining ${PIPELINING}; POSTs carry a unique Idempotency-Key each`,
    `${'target'.padEnd(15)}${'median req/s'.padStart(14)}${'median p99 ms'.padStart(15)}   req/s per round`,
    ...targets.map(
      (target) =>
        `${target.name.padEnd(15)}${target.medianRequestsPerSecond.toFixed(0).padStart(14)}` +
        `${target.medianP99Ms.toFixed(1).padStart(15)}   ${target.runs.map((run) => run.requestsPerSecond.toFixed(0)).join(' / ')}`,
    ),
    '',
    'ratios per round (the targets take their median; the ratio of the medians above is given for comparison)',
    `catalog GET / hello GET       ${rounds(ratioRounds.catalogGetToHelloGet)}   ` +
      `(ratio of medians ${ratiosOfMedians.catalogGetToHelloGet.toFixed(3)})`,
    `recharge POST / hello POST    ${rounds(ratioRounds.rechargePostToHelloPost)}   ` +
      `(ratio of medians ${ratiosOfMedians.rechargePostToHelloPost.toFixed(3)})`,
    '',
    verdict(
      'catalog GET / hello GET',
      ratios.catalogGetToHelloGet.toFixed(3),
      `≥ ${TARGETS_LIMITS.catalogRatio.toFixed(2)}`,
      ratios.catalogGetToHelloGet >= TARGETS_LIMITS.catalogRatio,
    ),
    verdict(
      'recharge POST / hello POST',
      ratios.rechargePostToHelloPost.toFixed(3),
      `≥ ${TARGETS_LIMITS.rechargeRatio.toFixed(2)}`,
      ratios.rechargePostToHelloPost >= TARGETS_LIMITS.rechargeRatio,
    ),
    verdict(
      'catalog GET p99',
      `${p99Ms.catalogGet} ms`,
      `< ${TARGETS_LIMITS.catalogP99Ms} ms`,
      p99Ms.catalogGet < TARGETS_LIMITS.catalogP99Ms,
    ),
    verdict(
      'recharge POST p99',
      `${p99Ms.rechargePost} ms`,
      `< ${TARGETS_LIMITS.p99Ms} ms`,
      p99Ms.rechargePost < TARGETS_LIMITS.p99Ms,
    ),
  ];
}
