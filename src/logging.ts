import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'fastify/types/logger.js';
import pino, { type LoggerOptions } from 'pino';
import type { Config } from './config.js';
import { urlForLog } from './shared/log-url.js';

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
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LogArguments = Parameters<FastifyBaseLogger['info']>;
type LevelAwareLogger = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };

/**
 * A request's logger that becomes a pino child only when a line is written at an enabled level. Fastify
 * makes one child per request, and at `warn` (or `info` with little to say) most requests write nothing:
 * building the child and its bindings for each of them cost about a tenth of a cached catalog read.
 */
export class LazyChildLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: LevelAwareLogger,
    private readonly bindings: () => Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return (this.#child ?? this.parent).level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: LogArguments) {
    this.#write('fatal', args);
  }
  error(...args: LogArguments) {
    this.#write('error', args);
  }
  warn(...args: LogArguments) {
    this.#write('warn', args);
  }
  info(...args: LogArguments) {
    this.#write('info', args);
  }
  debug(...args: LogArguments) {
    this.#write('debug', args);
  }
  trace(...args: LogArguments) {
    this.#write('trace', args);
  }
  silent(..._args: LogArguments) {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }

  #write(level: Level, args: LogArguments) {
    if (this.#child) this.#child[level](...args);
    else if (this.parent.isLevelEnabled(level)) this.#real()[level](...args);
  }

  #real(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings(), this.options);
    return this.#child;
  }
}

/**
 * Fastify's `logger` and `childLoggerFactory` for the configured format: in `gcp`, Cloud Logging's field
 * names, and each request's lines carry its trace when the project is known. Request loggers are lazy
 * (above), unless a route sets a level of its own.
 */
export function loggingOptions(
  config: LoggerConfig,
  base: FastifyServerOptions['logger'],
): Pick<FastifyServerOptions, 'logger' | 'childLoggerFactory'> {
  if (typeof base !== 'object') return { logger: base };
  const logger = config.logFormat === 'gcp' ? ({ ...base, ...gcpLoggerOptions() } as typeof base) : base;
  const projectId = config.logFormat === 'gcp' ? config.googleCloudProject : undefined;
  const childLoggerFactory: ChildLoggerFactory = (parent, bindings, options, request) => {
    const withTrace = projectId
      ? () => ({ ...bindings, ...traceFields(projectId, request.headers) })
      : () => bindings;
    const isLevelEnabled = (parent as { isLevelEnabled?: unknown }).isLevelEnabled;
    if (options.level !== undefined || typeof isLevelEnabled !== 'function') {
      return parent.child(withTrace(), options);
    }
    return new LazyChildLogger(parent as LevelAwareLogger, withTrace, options);
  };
  return { logger, childLoggerFactory };
}

/** Secrets that the logs must not show, whatever they are sent as: the bootstrap key may be any string. */
export function secretsOf(config: Config): string[] {
  return config.adminApiKey ? [config.adminApiKey] : [];
}

/**
 * The service's pino options, the API's and the worker's alike: credentials redacted from headers, and the
 * URL logged with its query string's keys and phone numbers masked.
 */
export function loggerOptions(
  config: Config,
  stream?: NodeJS.WritableStream,
): FastifyServerOptions['logger'] {
  const secrets = secretsOf(config);
  return {
    level: config.logLevel,
    ...(stream ? { stream } : {}),
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'],
      censor: '[redacted]',
    },
    serializers: {
      // The URL is logged with its query string, keys and phone numbers redacted.
      req: (request) => ({
        method: request.method,
        url: urlForLog(request.url, secrets),
        remoteAddress: request.ip,
      }),
    },
  };
}
