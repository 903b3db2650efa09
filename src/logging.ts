import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyServerOptions } from 'fastify';
import pino, { type LoggerOptions } from 'pino';
import type { Config } from './config.js';

/** Cloud Logging's LogSeverity for each pino level; its agent reads `severity`, not pino's number. */
const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

export const TRACE_FIELD = 'logging.googleapis.com/trace';
export const SPAN_FIELD = 'logging.googleapis.com/spanId';
export const SAMPLED_FIELD = 'logging.googleapis.com/trace_sampled';

export type TraceContext = { traceId: string; spanId: string | undefined; isSampled: boolean | undefined };

// W3C Trace Context: version-traceid-parentid-flags; all-zero ids and version ff are invalid.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// Google's older header: TRACE_ID/SPAN_ID;o=OPTIONS, the span id a decimal 64-bit number.
const CLOUD_TRACE_CONTEXT = /^([0-9a-fA-F]{32})(?:\/([0-9]{1,20}))?(?:;o=([0-9]+))?$/;
const MAX_SPAN_ID = 2n ** 64n - 1n;

/** The caller's trace from `traceparent`, else from `X-Cloud-Trace-Context`; null when neither is valid. */
export function parseTraceContext(headers: IncomingHttpHeaders): TraceContext | null {
  const traceparent = TRACEPARENT.exec(String(headers.traceparent ?? '').trim());
  if (traceparent) {
    const [, version, traceId = '', spanId = '', flags = '00'] = traceparent;
    if (version !== 'ff' && !/^0+$/.test(traceId) && !/^0+$/.test(spanId)) {
      return { traceId, spanId, isSampled: (Number.parseInt(flags, 16) & 1) === 1 };
    }
  }
  const cloud = CLOUD_TRACE_CONTEXT.exec(String(headers['x-cloud-trace-context'] ?? '').trim());
  if (!cloud?.[1] || /^0+$/.test(cloud[1])) return null;
  const span = cloud[2] === undefined ? undefined : BigInt(cloud[2]);
  const isValidSpan = span !== undefined && span > 0n && span <= MAX_SPAN_ID;
  return {
    traceId: cloud[1].toLowerCase(),
    spanId: isValidSpan ? span.toString(16).padStart(16, '0') : undefined,
    isSampled: cloud[3] === undefined ? undefined : (Number(cloud[3]) & 1) === 1,
  };
}

/** The fields that let Cloud Logging group a request's lines under its trace. */
export function traceFields(projectId: string, headers: IncomingHttpHeaders): Record<string, unknown> {
  const context = parseTraceContext(headers);
  if (!context) return {};
  return {
    [TRACE_FIELD]: `projects/${projectId}/traces/${context.traceId}`,
    ...(context.spanId ? { [SPAN_FIELD]: context.spanId } : {}),
    ...(context.isSampled === undefined ? {} : { [SAMPLED_FIELD]: context.isSampled }),
  };
}

/** pino options for Cloud Logging's structured JSON: `severity`, `message`, an RFC 3339 `time`. */
export function gcpLoggerOptions(): LoggerOptions {
  return {
    messageKey: 'message',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
      // Error Reporting picks up an entry whose `stack_trace` holds the stack.
      log: (object) => {
        const stack = (object.err as { stack?: unknown } | undefined)?.stack;
        return typeof stack === 'string' ? { ...object, stack_trace: stack } : object;
      },
    },
  };
}

type LoggerConfig = Pick<Config, 'logFormat' | 'googleCloudProject'>;
type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;

/**
 * Fastify's `logger` (and, on Cloud Run, `childLoggerFactory`) for the configured format: in `gcp`,
 * Cloud Logging's field names, and each request's lines carry its trace when the project is known.
 */
export function loggingOptions(
  config: LoggerConfig,
  base: FastifyServerOptions['logger'],
): Pick<FastifyServerOptions, 'logger' | 'childLoggerFactory'> {
  if (config.logFormat !== 'gcp' || typeof base !== 'object') return { logger: base };
  const logger = { ...base, ...gcpLoggerOptions() } as typeof base;
  const projectId = config.googleCloudProject;
  if (!projectId) return { logger };
  const childLoggerFactory: ChildLoggerFactory = (parent, bindings, options, request) =>
    parent.child({ ...bindings, ...traceFields(projectId, request.headers) }, options);
  return { logger, childLoggerFactory };
}
