import { type Static, Type } from '@sinclair/typebox';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Every variable the service reads, with its default; `.env.example` mirrors this list.
export const EnvSchema = Type.Object({
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

export type Env = Static<typeof EnvSchema>;
