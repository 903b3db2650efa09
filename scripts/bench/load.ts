/** Load generation: autocannon's requests, each POST with its own Idempotency-Key, and only 2xx accepted. */
import { createRequire } from 'node:module';
import { API_KEY, CONNECTIONS, PIPELINING, RUN_ID, SECONDS, type Target } from './config.js';

// autocannon ships no types; this is the part of its programmatic API the benchmark uses.
type Histogram = { average: number; p50: number; p99: number; max: number };
export type LoadResult = {
  requests: Histogram & { total: number };
  latency: Histogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
};
export type RequestSpec = {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Called by autocannon each time it builds this request, which it then does for every request. */
  setupRequest?: (request: RequestSpec) => RequestSpec;
};
type LoadOptions = {
  url: string;
  connections: number;
  pipelining: number;
  /** Requests a second over all connections; unset: as fast as the server answers. */
  overallRate?: number;
  duration?: number;
  amount?: number;
  requests: RequestSpec[];
};
// What autocannon returns without a callback: a thenable that also emits per-response events.
type Tracker = PromiseLike<LoadResult> & {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, bytes: number, milliseconds: number) => void,
  ): Tracker;
};
const autocannon = createRequire(import.meta.url)('autocannon') as (options: LoadOptions) => Tracker;

let idempotencyKeysSent = 0;

/** How many Idempotency-Keys this run has built so far. */
export function keysSent(): number {
  return idempotencyKeysSent;
}

export function requestSpec(target: Target): RequestSpec {
  return {
    method: target.method,
    path: target.path,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(target.body ? { 'content-type': 'application/json' } : {}),
    },
    ...(target.body ? { body: target.body } : {}),
    ...(target.idempotencyKey ? { setupRequest: withIdempotencyKey } : {}),
  };
}

// A counter, so every key of this run is distinct; the run id keeps runs against one database apart.
function withIdempotencyKey(request: RequestSpec): RequestSpec {
  idempotencyKeysSent += 1;
  return {
    ...request,
    headers: { ...request.headers, 'idempotency-key': `bench-${RUN_ID}-${idempotencyKeysSent}` },
  };
}

export function load(
  baseUrl: string,
  specs: RequestSpec[],
  limits: { seconds?: number; amount?: number; connections?: number; rate?: number },
): Tracker {
  return autocannon({
    url: baseUrl,
    connections: limits.connections ?? CONNECTIONS,
    pipelining: PIPELINING,
    ...(limits.rate ? { overallRate: limits.rate } : {}),
    ...(limits.amount ? { amount: limits.amount } : { duration: limits.seconds ?? SECONDS }),
    requests: specs,
  });
}

export async function generateLoad(
  target: Target,
  baseUrl: string,
  seconds: number,
  rate?: number,
): Promise<LoadResult> {
  const result = await load(baseUrl, [requestSpec(target)], { seconds, ...(rate ? { rate } : {}) });
  await assertOnlySuccesses(target.name, baseUrl, [requestSpec(target)], result);
  return result;
}

// Throughput of errors says nothing about the service, so any non-2xx, socket error or timeout stops the run.
export async function assertOnlySuccesses(
  name: string,
  baseUrl: string,
  specs: RequestSpec[],
  result: LoadResult,
): Promise<void> {
  if (result.non2xx === 0 && result.errors === 0 && result.timeouts === 0) return;
  const statuses = Object.entries(result.statusCodeStats)
    .map(([status, { count }]) => `${status}×${count}`)
    .join(', ');
  const distinct = [...new Map(specs.map((spec) => [`${spec.method} ${spec.path}`, spec])).values()];
  const samples = await Promise.all(
    distinct.map(
      async (spec) => `${spec.method} ${spec.path} now answers: ${await sampleResponse(baseUrl, spec)}`,
    ),
  );
  throw new Error(
    `${name}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts ` +
      `(statuses: ${statuses || 'none'}); ${samples.join('; ')}`,
  );
}

async function sampleResponse(baseUrl: string, spec: RequestSpec): Promise<string> {
  const request = spec.setupRequest ? spec.setupRequest({ ...spec }) : spec;
  try {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: request.headers,
      ...(request.body ? { body: request.body } : {}),
      signal: AbortSignal.timeout(5000),
    });
    return `${response.status} ${(await response.text()).slice(0, 300)}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
