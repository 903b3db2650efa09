import { getHeapStatistics } from 'node:v8';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.js';

export type OverloadOptions = {
  /** Event-loop delay past which requests are shed; 0 turns the check off. */
  maxEventLoopDelayMs: number;
  /** How often the process is sampled. */
  sampleIntervalMs?: number;
};

/** Throws the 503 of an overloaded instance; returns when the request may go on. */
export type OverloadGuard = (request: FastifyRequest) => void;

const HEAP_SHARE = 0.9;
const START_UP_GRACE_MS = 3000;
const LIVENESS_PATH = '/healthz';

/**
 * Past its thresholds (event-loop delay, heap) the service answers a quick 503 instead of queueing work it
 * cannot finish; /healthz keeps answering so the process is not killed for being busy, while /readyz sheds
 * like everything else and takes the instance out of rotation.
 *
 * `@fastify/under-pressure` samples the process and decides. It is registered in a scope of its own that
 * holds no route, so its per-request hook never runs; the gate (gate.ts) asks `isUnderPressure()`, a few
 * comparisons, in the hook every request already passes (each hook costs every request, docs/performance.md).
 */
// Not event-loop utilisation: a busy but healthy instance runs near 1.0, and delay already tells when
// requests start to wait.
export async function createOverloadGuard(
  app: FastifyInstance,
  options: OverloadOptions,
): Promise<OverloadGuard> {
  // Start-up (migrations on the embedded database) blocks the loop for seconds; the samples that saw it
  // must not shed the first requests of a healthy instance.
  let readyAt = Number.POSITIVE_INFINITY;
  app.addHook('onReady', async () => {
    readyAt = Date.now();
  });
  let sampler: Pick<FastifyInstance, 'isUnderPressure' | 'memoryUsage'> | undefined;
  await app.register(async (scope) => {
    await scope.register(underPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * HEAP_SHARE),
      ...(options.sampleIntervalMs ? { sampleInterval: options.sampleIntervalMs } : {}),
    });
    sampler = scope;
  });
  if (!sampler) throw new Error('the load sampler did not start');
  const { isUnderPressure, memoryUsage } = sampler;

  return (request) => {
    if (!isUnderPressure() || request.url === LIVENESS_PATH || Date.now() - readyAt < START_UP_GRACE_MS) {
      return;
    }
    request.log.warn(memoryUsage(), 'overloaded: request shed');
    throw new AppError('unavailable', 'the service is overloaded; retry later', undefined, {
      'retry-after': '2',
    });
  };
}
