import { Value } from '@sinclair/typebox/value';
import ipaddr from 'ipaddr.js';
import { type Env, EnvSchema } from './config-env.js';

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
