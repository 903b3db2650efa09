import { getHeapStatistics } from 'node:v8';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../shared/errors.js';

export type OverloadOptions = {
  /** Event-loop delay past which requests are shed; 0 turns the check off. */
  maxEventLoopDelayMs: number;
  /** How often the process is sampled. */
  sampleIntervalMs?: number;
};

const HEAP_SHARE = 0.9;
const START_UP_GRACE_MS = 3000;

/**
 * Past its thresholds (event-loop delay, heap) the service answers a quick 503
 * instead of queueing work it cannot finish; /healthz keeps answering so the process is not killed for
 * being busy, while /readyz sheds like everything else and takes the instance out of rotation.
 */
// Not event-loop utilisation: a busy but healthy instance runs near 1.0, and delay already tells when
// requests start to wait.
export const overloadPlugin = fp(async (app: FastifyInstance, options: OverloadOptions) => {
  // Start-up (migrations on the embedded database) blocks the loop for seconds; the samples that saw it
  // must not shed the first requests of a healthy instance.
  let readyAt = Number.POSITIVE_INFINITY;
  app.addHook('onReady', async () => {
    readyAt = Date.now();
  });
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * HEAP_SHARE),
    ...(options.sampleIntervalMs ? { sampleInterval: options.sampleIntervalMs } : {}),
    pressureHandler: async (request, _reply, type, value) => {
      if (request.url === '/healthz' || Date.now() - readyAt < START_UP_GRACE_MS) return;
      request.log.warn({ type, value }, 'overloaded: request shed');
      throw new AppError('unavailable', 'the service is overloaded; retry later', undefined, {
        'retry-after': '2',
      });
    },
  });
});
