import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('when nothing is set, then every variable takes its default', () => {
    expect(loadConfig({})).toEqual({
      nodeEnv: 'development',
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: undefined,
      dataDir: './.data',
      redisUrl: undefined,
      redisPrefix: 'recharge-api:',
      adminApiKey: undefined,
      corsOrigins: [],
      trustProxy: false,
      logLevel: 'info',
      bodyLimitBytes: 262144,
      rateLimitPerMinute: 1200,
      rateLimitPerIpPerMinute: 12000,
      authFailuresPerMinute: 20,
      rechargesPerClientPerMinute: 600,
      seedDemoData: true,
      dbPoolSize: 10,
      catalogVersionPollMs: 2000,
      rechargeBatch: { maxSize: 64, maxInFlight: 2 },
      shutdownTimeoutMs: 9000,
      idempotencyKeyTtlMs: 86_400_000,
      overloadMaxEventLoopDelayMs: 1000,
      logFormat: 'json',
      googleCloudProject: undefined,
      metricsPort: undefined,
      carrier: {
        kind: 'sandbox',
        url: undefined,
        timeoutMs: 10_000,
        maxAttempts: 5,
        retryBaseMs: 500,
        maxConnections: 16,
      },
      dispatcher: { enabled: true, batchSize: 64, concurrency: 256, pollMs: 1000 },
      webhooks: {
        timeoutMs: 10_000,
        retryScheduleMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
        allowPrivateUrls: true,
        requireHttps: false,
        concurrency: 256,
        perEndpoint: 64,
      },
    });
  });

  it('when every variable is set, then each is read with its type', () => {
    expect(
      loadConfig({
        NODE_ENV: 'test',
        PORT: '8080',
        HOST: '127.0.0.1',
        DATABASE_URL: 'postgres://user:pass@db:5432/recharges',
        DATA_DIR: '/var/lib/recharges',
        REDIS_URL: 'redis://cache:6379',
        REDIS_PREFIX: 'rc:',
        ADMIN_API_KEY: 'a'.repeat(32),
        CORS_ORIGINS: 'https://a.example, https://b.example',
        TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
        LOG_LEVEL: 'warn',
        BODY_LIMIT: '4096',
        RATE_LIMIT_PER_MINUTE: '60',
        RATE_LIMIT_PER_IP_PER_MINUTE: '600',
        AUTH_FAILURES_PER_MINUTE: '5',
        RECHARGES_PER_CLIENT_PER_MINUTE: '30',
        SEED_DEMO_DATA: 'no',
        DB_POOL_SIZE: '4',
        CATALOG_VERSION_POLL_MS: '500',
        RECHARGE_BATCH_MAX_SIZE: '16',
        RECHARGE_BATCH_IN_FLIGHT: '3',
        SHUTDOWN_TIMEOUT_MS: '2000',
        IDEMPOTENCY_KEY_TTL_HOURS: '48',
        OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '500',
        LOG_FORMAT: 'gcp',
        GOOGLE_CLOUD_PROJECT: 'my-project-123',
        METRICS_PORT: '9464',
        CARRIER: 'http',
        CARRIER_URL: 'https://carrier.example/v1',
        CARRIER_TIMEOUT_MS: '3000',
        CARRIER_MAX_ATTEMPTS: '3',
        CARRIER_RETRY_BASE_MS: '200',
        CARRIER_MAX_CONNECTIONS: '8',
        DISPATCHER: 'off',
        DISPATCHER_BATCH_SIZE: '10',
        DISPATCHER_CONCURRENCY: '20',
        DISPATCHER_POLL_MS: '250',
        WEBHOOK_TIMEOUT_MS: '2000',
        WEBHOOK_RETRY_SCHEDULE: ' 0.5, 60 ',
        WEBHOOK_ALLOW_PRIVATE_URLS: 'false',
        WEBHOOK_CONCURRENCY: '16',
        WEBHOOK_CONCURRENCY_PER_ENDPOINT: '2',
      }),
    ).toEqual({
      nodeEnv: 'test',
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: 'postgres://user:pass@db:5432/recharges',
      dataDir: '/var/lib/recharges',
      redisUrl: 'redis://cache:6379',
      redisPrefix: 'rc:',
      adminApiKey: 'a'.repeat(32),
      corsOrigins: ['https://a.example', 'https://b.example'],
      trustProxy: ['10.0.0.0/8', '127.0.0.1'],
      logLevel: 'warn',
      bodyLimitBytes: 4096,
      rateLimitPerMinute: 60,
      rateLimitPerIpPerMinute: 600,
      authFailuresPerMinute: 5,
      rechargesPerClientPerMinute: 30,
      seedDemoData: false,
      dbPoolSize: 4,
      catalogVersionPollMs: 500,
      rechargeBatch: { maxSize: 16, maxInFlight: 3 },
      shutdownTimeoutMs: 2000,
      idempotencyKeyTtlMs: 172_800_000,
      overloadMaxEventLoopDelayMs: 500,
      logFormat: 'gcp',
      googleCloudProject: 'my-project-123',
      metricsPort: 9464,
      carrier: {
        kind: 'http',
        url: 'https://carrier.example/v1',
        timeoutMs: 3000,
        maxAttempts: 3,
        retryBaseMs: 200,
        maxConnections: 8,
      },
      dispatcher: { enabled: false, batchSize: 10, concurrency: 20, pollMs: 250 },
      webhooks: {
        timeoutMs: 2000,
        retryScheduleMs: [500, 60_000],
        allowPrivateUrls: false,
        requireHttps: false,
        concurrency: 16,
        perEndpoint: 2,
      },
    });
  });

  it.each([
    [{}, true],
    [{ NODE_ENV: 'test' }, true],
    [{ NODE_ENV: 'production' }, false],
    [{ NODE_ENV: 'production', SEED_DEMO_DATA: 'true' }, true],
    [{ NODE_ENV: 'development', SEED_DEMO_DATA: 'false' }, false],
  ])('when the environment is %j, then seedDemoData is %s', (env, expected) => {
    expect(loadConfig(env).seedDemoData).toBe(expected);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['LOG_LEVEL', 'loud'],
    ['BODY_LIMIT', '-5'],
    ['BODY_LIMIT', '100'],
    ['RATE_LIMIT_PER_MINUTE', '0'],
    ['RATE_LIMIT_PER_IP_PER_MINUTE', '0'],
    ['AUTH_FAILURES_PER_MINUTE', 'many'],
    ['RECHARGES_PER_CLIENT_PER_MINUTE', '-1'],
    ['SEED_DEMO_DATA', 'maybe'],
    ['NODE_ENV', 'staging'],
    ['REDIS_URL', 'http://cache:6379'],
    ['DB_POOL_SIZE', '1000'],
    ['CATALOG_VERSION_POLL_MS', '10'],
    ['RECHARGE_BATCH_MAX_SIZE', '0'],
    ['RECHARGE_BATCH_IN_FLIGHT', '101'],
    ['CARRIER', 'celcoin'],
    ['CARRIER_URL', 'ftp://carrier'],
    ['CARRIER_TIMEOUT_MS', '50'],
    ['CARRIER_MAX_ATTEMPTS', '0'],
    ['DISPATCHER', 'maybe'],
    ['DISPATCHER_POLL_MS', '10'],
    ['WEBHOOK_RETRY_SCHEDULE', '5,soon'],
    ['WEBHOOK_RETRY_SCHEDULE', '-5'],
    ['WEBHOOK_TIMEOUT_MS', '99'],
    ['WEBHOOK_ALLOW_PRIVATE_URLS', 'perhaps'],
  ])('when %s=%s, then start-up fails with a ConfigError naming the variable', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).toMatch(/^invalid environment variable /);
  });

  it('when NODE_ENV=production, then webhook URLs must be https on public addresses unless private ones are allowed', () => {
    expect(loadConfig({ NODE_ENV: 'production', ADMIN_API_KEY: 'k'.repeat(32) }).webhooks).toMatchObject({
      allowPrivateUrls: false,
      requireHttps: true,
    });
    expect(
      loadConfig({
        NODE_ENV: 'production',
        ADMIN_API_KEY: 'k'.repeat(32),
        WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
      }).webhooks,
    ).toMatchObject({ allowPrivateUrls: true, requireHttps: false });
  });

  it('when CARRIER=http has no CARRIER_URL, then start-up fails naming CARRIER_URL', () => {
    expect(configError({ CARRIER: 'http' }).message).toBe(
      'invalid environment variable CARRIER_URL: required when CARRIER=http',
    );
  });

  it('when DATABASE_URL is not a PostgreSQL URL, then the error names it without echoing the value', () => {
    const error = configError({ DATABASE_URL: 'mysql://admin:hunter2@db/x' });
    expect(error.message).toContain('DATABASE_URL');
    expect(error.message).not.toContain('mysql');
    expect(error.message).not.toContain('hunter2');
  });

  it('when several variables are bad, then the error names each, with the allowed values of a choice', () => {
    const error = configError({ PORT: 'abc', LOG_LEVEL: 'loud', HOST: '  ' });
    expect(error.message).toBe(
      'invalid environment variable PORT: Expected integer; ' +
        "invalid environment variable HOST: Expected string to match '^\\S+$'; " +
        'invalid environment variable LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  it('when a variable is an empty string, then it counts as unset', () => {
    const config = loadConfig({
      NODE_ENV: '',
      PORT: '',
      HOST: '',
      DATABASE_URL: '',
      REDIS_URL: '',
      LOG_LEVEL: '',
      BODY_LIMIT: '',
      SEED_DEMO_DATA: '',
    });
    expect(config).toEqual(loadConfig({}));
  });

  it.each([
    ['true', true],
    ['1', true],
    ['YES', true],
    [' on ', true],
    ['false', false],
    ['0', false],
    ['No', false],
    ['off', false],
  ])('when SEED_DEMO_DATA=%j, then seedDemoData is %s', (value, expected) => {
    expect(loadConfig({ NODE_ENV: 'production', SEED_DEMO_DATA: value }).seedDemoData).toBe(expected);
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(config.port).toBe(3000);
  });

  it('reads TRUST_PROXY as a flag, or as a hop count that trusts only the nearest proxies', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    const trust = loadConfig({ TRUST_PROXY: '1' }).trustProxy as (address: string, hop: number) => boolean;
    expect([trust('10.0.0.1', 0), trust('10.0.0.2', 1)]).toEqual([true, false]);
    expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY/);
  });

  it.each([
    'abc',
    '10.0.0.0/33',
    '1.2.3',
    '::1/129',
    '10.0.0.0/8/8',
    '10.0.0.1, 300.0.0.1',
    '0.0.0.0/0',
    '::/0',
  ])(
    'when TRUST_PROXY is %j, then start-up stops naming the variable, not deep inside the proxy check',
    (value) => {
      expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(
        /^invalid environment variable TRUST_PROXY: .* is not an IP address or CIDR range \(for every address, true\)$/,
      );
    },
  );

  it('reads TRUST_PROXY addresses and ranges of both families', () => {
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1, ::1, fd00::/8' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
      'fd00::/8',
    ]);
  });

  it.each([
    'https://shop.example.com/',
    'https://Shop.example.com',
    'shop.example.com',
    '*',
    'ftp://x.example',
  ])(
    'when CORS_ORIGINS holds %j, which no browser sends as an origin, then start-up stops naming it',
    (origin) => {
      expect(() => loadConfig({ CORS_ORIGINS: `https://a.example, ${origin}` })).toThrow(
        /^invalid environment variable CORS_ORIGINS: /,
      );
    },
  );

  it('reads CORS_ORIGINS with ports', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example:8443,http://localhost:5173' }).corsOrigins).toEqual([
      'https://a.example:8443',
      'http://localhost:5173',
    ]);
  });
});
