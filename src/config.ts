import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import ipaddr from 'ipaddr.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Every variable the service reads, with its default; `.env.example` mirrors this list.
const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
  }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ pattern: '^\\S+$', default: '0.0.0.0' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^(postgres|postgresql)://' })),
  DATA_DIR: Type.String({ minLength: 1, default: './.data' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_-]{1,64}$', default: 'recharge-api:' }),
  ADMIN_API_KEY: Type.Optional(Type.String({ minLength: 32, maxLength: 512, pattern: '^[\\x21-\\x7e]+$' })),
  CORS_ORIGINS: Type.Optional(Type.String({ minLength: 1 })),
  TRUST_PROXY: Type.Optional(Type.String({ pattern: '^(true|false|[0-9]{1,2}|[0-9a-fA-F.:/, ]+)$' })),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
  BODY_LIMIT: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 256 * 1024 }),
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1200 }),
  RATE_LIMIT_PER_IP_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 12_000 }),
  AUTH_FAILURES_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20 }),
  RECHARGES_PER_CLIENT_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 600 }),
  SEED_DEMO_DATA: Type.Optional(Type.Boolean()),
  DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  CATALOG_VERSION_POLL_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 2000 }),
  RECHARGE_BATCH_MAX_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 64 }),
  RECHARGE_BATCH_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
  IDEMPOTENCY_KEY_TTL_HOURS: Type.Integer({ minimum: 24, maximum: 24 * 365, default: 24 }),
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 120_000, default: 9000 }),
  LOG_FORMAT: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('gcp')])),
  GOOGLE_CLOUD_PROJECT: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9.:-]{4,100}$' })),
  // Set by Cloud Run itself; its presence turns on Cloud Logging's format unless LOG_FORMAT says otherwise.
  K_SERVICE: Type.Optional(Type.String()),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  CARRIER: Type.Union([Type.Literal('sandbox'), Type.Literal('http')], { default: 'sandbox' }),
  CARRIER_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  CARRIER_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  CARRIER_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
  CARRIER_RETRY_BASE_MS: Type.Integer({ minimum: 10, maximum: 600_000, default: 500 }),
  CARRIER_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 1024, default: 16 }),
  DISPATCHER: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on' }),
  DISPATCHER_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 64 }),
  DISPATCHER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 10_000, default: 256 }),
  DISPATCHER_POLL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 1000 }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000 }),
  // Seconds before each retry; decimals allowed (tests use fractions of a second).
  WEBHOOK_RETRY_SCHEDULE: Type.String({
    pattern: '^\\s*\\d+(\\.\\d+)?(\\s*,\\s*\\d+(\\.\\d+)?){0,19}\\s*$',
    default: '5,300,1800,7200,18000,36000,36000',
  }),
  WEBHOOK_ALLOW_PRIVATE_URLS: Type.Optional(Type.Boolean()),
  WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 10_000, default: 256 }),
  WEBHOOK_CONCURRENCY_PER_ENDPOINT: Type.Integer({ minimum: 1, maximum: 1000, default: 64 }),
});

type Env = Static<typeof EnvSchema>;

export type Config = Readonly<{
  nodeEnv: Env['NODE_ENV'];
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  redisUrl: string | undefined;
  redisPrefix: string;
  adminApiKey: string | undefined;
  corsOrigins: string[];
  /** Fastify's trustProxy: false, true, a hop count, or the proxies' addresses and CIDRs. */
  trustProxy: boolean | string[] | ((address: string, hop: number) => boolean);
  logLevel: Env['LOG_LEVEL'];
  bodyLimitBytes: number;
  rateLimitPerMinute: number;
  rateLimitPerIpPerMinute: number;
  authFailuresPerMinute: number;
  rechargesPerClientPerMinute: number;
  seedDemoData: boolean;
  dbPoolSize: number;
  /** How often each instance reads the committed catalog version: the bound on a missed cache announcement. */
  catalogVersionPollMs: number;
  /** Recharges stored by one statement at most, and such statements running at once (docs/performance.md). */
  rechargeBatch: { maxSize: number; maxInFlight: number };
  shutdownTimeoutMs: number;
  overloadMaxEventLoopDelayMs: number;
  idempotencyKeyTtlMs: number;
  /** 'gcp': Cloud Logging's structured JSON (severity, message, trace); 'json': pino's own. */
  logFormat: 'json' | 'gcp';
  /** The project that Cloud Logging's trace field names; without it, log lines carry no trace. */
  googleCloudProject: string | undefined;
  /** A second port that serves /metrics without a key; unset: /metrics only on PORT, with an admin key. */
  metricsPort: number | undefined;
  /** The carrier gateway (docs/api.md) and how one call to it is bounded and retried. */
  carrier: {
    kind: 'sandbox' | 'http';
    url: string | undefined;
    timeoutMs: number;
    maxAttempts: number;
    retryBaseMs: number;
    maxConnections: number;
  };
  /** Whether this process dispatches recharges to the carrier, and how much at once. */
  dispatcher: { enabled: boolean; batchSize: number; concurrency: number; pollMs: number };
  /** Webhook delivery (docs/webhooks.md); it runs where the dispatcher does. */
  webhooks: {
    timeoutMs: number;
    retryScheduleMs: number[];
    allowPrivateUrls: boolean;
    requireHttps: boolean;
    concurrency: number;
    perEndpoint: number;
  };
}>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  '1': true,
  yes: true,
  on: true,
  false: false,
  '0': false,
  no: false,
  off: false,
};

function coerce(name: string, raw: string): unknown {
  const schema = EnvSchema.properties[name as keyof Env];
  if (schema.type === 'integer') return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (schema.type === 'boolean') return BOOLEAN_WORDS[raw.trim().toLowerCase()] ?? raw;
  return raw;
}

function describe(name: string, message: string): string {
  const schema = EnvSchema.properties[name as keyof Env] as { anyOf?: { const: string }[] };
  return schema.anyOf ? `must be one of ${schema.anyOf.map((option) => option.const).join(', ')}` : message;
}

/** Reads the environment once, fails fast naming the first bad variable, and returns a frozen Config. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const values: Record<string, unknown> = {};
  for (const name of Object.keys(EnvSchema.properties)) {
    const raw = env[name];
    // An empty variable means "unset", as in most shells' `VAR= command`.
    if (raw !== undefined && raw !== '') values[name] = coerce(name, raw);
  }
  const withDefaults = Value.Default(EnvSchema, values);
  const problems = new Map<string, string>();
  for (const error of Value.Errors(EnvSchema, withDefaults)) {
    const name = error.path.replace(/^\//, '');
    if (!problems.has(name)) problems.set(name, describe(name, error.message));
  }
  if (problems.size > 0) {
    // The value itself is not echoed: it may hold a password.
    const lines = [...problems].map(([name, message]) => `invalid environment variable ${name}: ${message}`);
    throw new ConfigError(lines.join('; '));
  }
  const parsed = withDefaults as Env;
  if (parsed.CARRIER === 'http' && !parsed.CARRIER_URL) {
    throw new ConfigError('invalid environment variable CARRIER_URL: required when CARRIER=http');
  }
  return Object.freeze({
    nodeEnv: parsed.NODE_ENV,
    port: parsed.PORT,
    host: parsed.HOST,
    databaseUrl: parsed.DATABASE_URL,
    dataDir: parsed.DATA_DIR,
    redisUrl: parsed.REDIS_URL,
    redisPrefix: parsed.REDIS_PREFIX,
    adminApiKey: parsed.ADMIN_API_KEY,
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    corsOrigins: parseCorsOrigins(parsed.CORS_ORIGINS),
    logLevel: parsed.LOG_LEVEL,
    bodyLimitBytes: parsed.BODY_LIMIT,
    rateLimitPerMinute: parsed.RATE_LIMIT_PER_MINUTE,
    rateLimitPerIpPerMinute: parsed.RATE_LIMIT_PER_IP_PER_MINUTE,
    authFailuresPerMinute: parsed.AUTH_FAILURES_PER_MINUTE,
    rechargesPerClientPerMinute: parsed.RECHARGES_PER_CLIENT_PER_MINUTE,
    seedDemoData: parsed.SEED_DEMO_DATA ?? parsed.NODE_ENV !== 'production',
    dbPoolSize: parsed.DB_POOL_SIZE,
    catalogVersionPollMs: parsed.CATALOG_VERSION_POLL_MS,
    rechargeBatch: { maxSize: parsed.RECHARGE_BATCH_MAX_SIZE, maxInFlight: parsed.RECHARGE_BATCH_IN_FLIGHT },
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
    overloadMaxEventLoopDelayMs: parsed.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
    idempotencyKeyTtlMs: parsed.IDEMPOTENCY_KEY_TTL_HOURS * 3_600_000,
    logFormat: parsed.LOG_FORMAT ?? (parsed.K_SERVICE ? 'gcp' : 'json'),
    googleCloudProject: parsed.GOOGLE_CLOUD_PROJECT,
    metricsPort: parsed.METRICS_PORT,
    carrier: {
      kind: parsed.CARRIER,
      url: parsed.CARRIER_URL,
      timeoutMs: parsed.CARRIER_TIMEOUT_MS,
      maxAttempts: parsed.CARRIER_MAX_ATTEMPTS,
      retryBaseMs: parsed.CARRIER_RETRY_BASE_MS,
      maxConnections: parsed.CARRIER_MAX_CONNECTIONS,
    },
    dispatcher: {
      enabled: parsed.DISPATCHER === 'on',
      batchSize: parsed.DISPATCHER_BATCH_SIZE,
      concurrency: parsed.DISPATCHER_CONCURRENCY,
      pollMs: parsed.DISPATCHER_POLL_MS,
    },
    webhooks: {
      timeoutMs: parsed.WEBHOOK_TIMEOUT_MS,
      retryScheduleMs: parsed.WEBHOOK_RETRY_SCHEDULE.split(',').map((seconds) =>
        Math.round(Number(seconds) * 1000),
      ),
      allowPrivateUrls: parsed.WEBHOOK_ALLOW_PRIVATE_URLS ?? parsed.NODE_ENV !== 'production',
      // Private receivers (a development machine, a service in the same network) are plain http.
      requireHttps: parsed.NODE_ENV === 'production' && parsed.WEBHOOK_ALLOW_PRIVATE_URLS !== true,
      concurrency: parsed.WEBHOOK_CONCURRENCY,
      perEndpoint: parsed.WEBHOOK_CONCURRENCY_PER_ENDPOINT,
    },
  });
}

function parseTrustProxy(value: string | undefined): Config['trustProxy'] {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^[0-9]+$/.test(value)) {
    const hops = Number(value);
    return (_address, hop) => hop < hops;
  }
  const entries = value
    .split(',')
    .map((address) => address.trim())
    .filter(Boolean);
  for (const entry of entries) {
    // Checked here so that a typo stops start-up with this message, not later inside proxy-addr; IPv4 in
    // its four-part form only ('1.2.3' is a valid address to inet_aton, and surely a typo here).
    // A range of prefix 0 is every address, which proxy-addr refuses: that is TRUST_PROXY=true.
    const valid =
      (ipaddr.IPv4.isValidFourPartDecimal(entry) ||
        ipaddr.IPv4.isValidCIDRFourPartDecimal(entry) ||
        ipaddr.IPv6.isValid(entry) ||
        ipaddr.IPv6.isValidCIDR(entry)) &&
      !/\/0+$/.test(entry);
    if (!valid) {
      throw new ConfigError(
        `invalid environment variable TRUST_PROXY: ${entry} is not an IP address or CIDR range (for every address, true)`,
      );
    }
  }
  return entries;
}

/**
 * Origins exactly as a browser sends them (scheme, lower-case host, port, no path): the CORS plugin compares
 * them as strings, so one written otherwise would match nothing and fail silently.
 */
function parseCorsOrigins(value: string | undefined): string[] {
  const origins = (value ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let valid = false;
    if (URL.canParse(origin)) {
      const url = new URL(origin);
      valid = (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === origin;
    }
    if (!valid) {
      throw new ConfigError(
        `invalid environment variable CORS_ORIGINS: ${origin} is not an origin such as https://shop.example.com (scheme, lower-case host and port; no path or trailing slash)`,
      );
    }
  }
  return origins;
}
