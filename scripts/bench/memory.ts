/** The memory phase: MEMORY_REQUESTS requests of a catalog GET and recharge POST mix, RSS read every second. */
import { readFileSync } from 'node:fs';
import {
  API_KEY,
  CATALOG_GET,
  CONNECTIONS,
  HEAP_SAMPLE_MS,
  MEMORY_POST_EVERY,
  MEMORY_REQUESTS,
  PROGRESS_EVERY_MS,
  RECHARGE_POST,
  RSS_SAMPLE_MS,
  TARGETS_LIMITS,
} from './config.js';
import { assertOnlySuccesses, type LoadResult, load, requestSpec } from './load.js';
import { verdict } from './report.js';
import type { Server } from './servers.js';
import { progress, round2, signed } from './util.js';

type RssSample = { seconds: number; rssMb: number };
type HeapSample = { seconds: number; heapUsedMb: number; heapTotalMb: number };

/** MEMORY_REQUESTS requests, catalog GETs and one POST in MEMORY_POST_EVERY, RSS read every second. */
export async function memoryPhase(service: Server, rssAfterStartMb: number) {
  const specs = [
    ...Array.from({ length: MEMORY_POST_EVERY - 1 }, () => requestSpec(CATALOG_GET)),
    requestSpec(RECHARGE_POST),
  ];
  const rssBeforeMb = readRssMb(service);
  const samples: RssSample[] = [];
  const heapSamples: HeapSample[] = [];
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const sample = () => samples.push({ seconds: elapsed(), rssMb: readRssMb(service) });
  sample();
  const sampler = setInterval(sample, RSS_SAMPLE_MS);
  // The heap, from the service's /metrics, less often: each scrape is a request of its own.
  let scraping = false;
  const heapSampler = setInterval(() => {
    if (scraping) return;
    scraping = true;
    scrapeMemoryMetrics(service.baseUrl)
      .then((metrics) =>
        heapSamples.push({
          seconds: elapsed(),
          heapUsedMb: metrics.nodejs_heap_size_used_mb ?? Number.NaN,
          heapTotalMb: metrics.nodejs_heap_size_total_mb ?? Number.NaN,
        }),
      )
      .catch(() => {})
      .finally(() => {
        scraping = false;
      });
  }, HEAP_SAMPLE_MS);
  let responses = 0;
  let lastProgress = started;
  const tracker = load(service.baseUrl, specs, { amount: MEMORY_REQUESTS });
  tracker.on('response', () => {
    responses += 1;
    if (responses % 1000 === 0 && Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      const rss = samples.at(-1)?.rssMb ?? Number.NaN;
      const heap = heapSamples.at(-1);
      progress(
        `memory: ${responses}/${MEMORY_REQUESTS} responses, RSS ${rss.toFixed(1)} MB` +
          (heap ? `, heap used ${heap.heapUsedMb} of ${heap.heapTotalMb} MB` : ''),
      );
    }
  });
  let result: LoadResult;
  try {
    result = await tracker;
  } finally {
    clearInterval(sampler);
    clearInterval(heapSampler);
  }
  sample();
  await assertOnlySuccesses('memory mix', service.baseUrl, specs, result);
  const seconds = elapsed();
  const lastHalf = samples.filter((entry) => entry.seconds >= seconds / 2);
  const fit = linearFit(lastHalf.map((entry) => [entry.seconds / 60, entry.rssMb]));
  const rssValues = lastHalf.map((entry) => entry.rssMb);
  const halfMinutes = seconds / 2 / 60;
  const metricsAtEnd = await scrapeMemoryMetrics(service.baseUrl);
  return {
    requests: result.requests.total,
    twoXx: result['2xx'],
    // Every connection walks the list in order, so at most one POST per connection is not yet answered.
    postsAtLeast: Math.max(0, Math.floor(result['2xx'] / MEMORY_POST_EVERY) - CONNECTIONS),
    postShare: 1 / MEMORY_POST_EVERY,
    seconds,
    requestsPerSecond: result.requests.total / seconds,
    p99Ms: result.latency.p99,
    rssAfterStartMb,
    rssBeforeMb,
    rssEndMb: samples.at(-1)?.rssMb ?? Number.NaN,
    rssMaxMb: Math.max(...samples.map((entry) => entry.rssMb)),
    lastHalf: {
      slopeMbPerMinute: fit.slope,
      fittedChangeMb: fit.slope * halfMinutes,
      minMb: Math.min(...rssValues),
      maxMb: Math.max(...rssValues),
      // GC makes RSS a saw-tooth; a leak lifts its floor, so the lowest value of each quarter is compared.
      rssFloor: quarterFloors(samples, seconds, (entry) => entry.rssMb),
      heapUsedFloor: quarterFloors(heapSamples, seconds, (entry) => entry.heapUsedMb),
    },
    metricsAtEnd,
    samples,
    heapSamples,
  };
}

/** The lowest value in the third and in the fourth quarter of the run, and the change between them. */
function quarterFloors<T extends { seconds: number }>(
  samples: T[],
  seconds: number,
  value: (entry: T) => number,
) {
  const lowest = (from: number, to: number) => {
    const values = samples
      .filter((entry) => entry.seconds >= from * seconds && entry.seconds <= to * seconds)
      .map(value)
      .filter(Number.isFinite);
    return values.length > 0 ? Math.min(...values) : Number.NaN;
  };
  const thirdQuarterMb = lowest(0.5, 0.75);
  const fourthQuarterMb = lowest(0.75, 1);
  return { thirdQuarterMb, fourthQuarterMb, changeMb: round2(fourthQuarterMb - thirdQuarterMb) };
}

export function readRssMb(server: Server): number {
  const status = readFileSync(`/proc/${server.process.pid}/status`, 'utf8');
  const kilobytes = Number(/^VmRSS:\s*(\d+)\s*kB$/m.exec(status)?.[1]);
  return round2(kilobytes / 1024);
}

// The service's own view at the end (prom-client's default metrics), to tell heap from other memory.
async function scrapeMemoryMetrics(baseUrl: string): Promise<Record<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`, {
    headers: { authorization: `Bearer ${API_KEY}` },
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  const wanted = [
    'process_resident_memory_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_external_memory_bytes',
  ];
  const values: Record<string, number> = {};
  for (const name of wanted) {
    const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
    if (value !== undefined) values[name.replace(/_bytes$/, '_mb')] = round2(Number(value) / 2 ** 20);
  }
  return values;
}

function linearFit(points: Array<[number, number]>): { slope: number; intercept: number } {
  const n = points.length;
  if (n < 2) return { slope: 0, intercept: points[0]?.[1] ?? Number.NaN };
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  const slope = variance === 0 ? 0 : covariance / variance;
  return { slope, intercept: meanY - slope * meanX };
}

export function memoryReport(memory: Awaited<ReturnType<typeof memoryPhase>>): string[] {
  const { lastHalf } = memory;
  // Ten evenly spaced samples show the shape of the curve without printing hundreds of lines.
  const step = Math.max(1, Math.floor(memory.samples.length / 10));
  const curve = memory.samples
    .filter((_entry, index) => index % step === 0 || index === memory.samples.length - 1)
    .map((entry) => `${entry.seconds.toFixed(0)}s ${entry.rssMb.toFixed(0)}`)
    .join(', ');
  const flat = lastHalf.rssFloor.changeMb < TARGETS_LIMITS.rssDriftMb;
  return [
    '',
    `MEMORY  ${memory.requests} requests (catalog GET, 1 in ${MEMORY_POST_EVERY} a recharge POST), ` +
      `${CONNECTIONS} connections, in ${memory.seconds.toFixed(0)} s (${memory.requestsPerSecond.toFixed(0)} req/s, p99 ${memory.p99Ms} ms)`,
    `RSS MB: after start-up ${memory.rssAfterStartMb.toFixed(1)}, before this phase ${memory.rssBeforeMb.toFixed(1)}, ` +
      `max ${memory.rssMaxMb.toFixed(1)}, end ${memory.rssEndMb.toFixed(1)}`,
    `RSS curve (s MB): ${curve}`,
    `last half: slope ${signed(lastHalf.slopeMbPerMinute)} MB/min (fitted change ${signed(lastHalf.fittedChangeMb)} MB), ` +
      `min ${lastHalf.minMb.toFixed(1)}, max ${lastHalf.maxMb.toFixed(1)} (spread ${(lastHalf.maxMb - lastHalf.minMb).toFixed(1)} MB)`,
    `floor (lowest value) 3rd → 4th quarter: RSS ${lastHalf.rssFloor.thirdQuarterMb.toFixed(1)} → ` +
      `${lastHalf.rssFloor.fourthQuarterMb.toFixed(1)} MB (${signed(lastHalf.rssFloor.changeMb)}), heap used ` +
      `${lastHalf.heapUsedFloor.thirdQuarterMb.toFixed(1)} → ${lastHalf.heapUsedFloor.fourthQuarterMb.toFixed(1)} MB ` +
      `(${signed(lastHalf.heapUsedFloor.changeMb)}; sampled every ${HEAP_SAMPLE_MS / 1000} s from /metrics)`,
    `service's /metrics at the end: ${Object.entries(memory.metricsAtEnd)
      .map(([name, value]) => `${name} ${value}`)
      .join(', ')}`,
    verdict(
      'RSS at the end',
      `${memory.rssEndMb.toFixed(1)} MB`,
      `< ${TARGETS_LIMITS.rssMb} MB`,
      memory.rssEndMb < TARGETS_LIMITS.rssMb,
    ),
    verdict(
      'RSS floor, 3rd → 4th quarter',
      `${signed(lastHalf.rssFloor.changeMb)} MB`,
      `< +${TARGETS_LIMITS.rssDriftMb} MB`,
      flat,
    ),
  ];
}
