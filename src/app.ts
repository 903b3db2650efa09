import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { createCatalogCache } from './cache/redis-catalog-cache.js';
import type { Config } from './config.js';
import { createDatabase, type Database } from './db/database.js';
import { migrateDatabase } from './db/migrate.js';
import { createUnitOfWork } from './db/unit-of-work.js';
import { createLifecycle } from './lifecycle.js';
import { loggerOptions, loggingOptions, secretsOf } from './logging.js';
import { accountRoutes, createAccountServiceOn } from './modules/accounts/index.js';
import {
  apiKeyRoutes,
  createApiKeyServiceOn,
  createLocalRevocationBus,
  createRedisRevocationBus,
  keyIdOf,
} from './modules/api-keys/index.js';
import { auditRoutes, createAuditRepository } from './modules/audit/index.js';
import { sandboxCarrierRoutes } from './modules/carrier/index.js';
import { watchCatalogVersion } from './modules/catalog/catalog-version-watch.js';
import {
  CatalogSchema,
  catalogRoutes,
  createCatalogRepository,
  createCatalogService,
} from './modules/catalog/index.js';
import {
  createRechargeRepository,
  createRechargeService,
  RechargeInputSchema,
  RechargeSchema,
  rechargeRoutes,
  scheduleIdempotencyPurge,
} from './modules/recharges/index.js';
import {
  createWebhookRepository,
  createWebhookService,
  type Resolver,
  webhookRoutes,
} from './modules/webhooks/index.js';
import { authPlugin } from './plugins/auth.js';
import { corsPlugin } from './plugins/cors.js';
import { docsPlugin } from './plugins/docs.js';
import { errorsPlugin } from './plugins/errors.js';
import { gatePlugin } from './plugins/gate.js';
import { healthPlugin } from './plugins/health.js';
import { jsonBodyPlugin } from './plugins/json-body.js';
import { createMetrics, metricsPlugin } from './plugins/metrics.js';
import { answerClientError, answerFrameworkError } from './plugins/protocol-errors.js';
import { createRateLimits } from './plugins/rate-limit.js';
import { createRateLimitStore } from './plugins/rate-limit-store.js';
import { requestLogPlugin } from './plugins/request-log.js';
import { buildValidatorCompiler } from './plugins/validation.js';
import { createRedis } from './redis.js';
import { createRedisBroadcast } from './redis-broadcast.js';
import { seedDemoCatalogs } from './seed.js';
import { holdsSensitiveValue } from './shared/redact.js';
import { FORMATS, ProblemSchema } from './shared/schemas.js';

export type AppOverrides = {
  /** An already migrated database to use instead of the one the config names; the caller closes it. */
  database?: Database;
  /** Where JSON logs go (tests capture them); default standard output. */
  logStream?: NodeJS.WritableStream;
  /** Resolves webhook hosts instead of DNS (tests of the URL guard). */
  resolve?: Resolver;
};

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<FastifyInstance> {
  const secrets = secretsOf(config);
  const app = Fastify({
    ...loggingOptions(config, loggerOptions(config, overrides.logStream)),
    requestIdHeader: false,
    // requestLogPlugin writes one line per request instead of Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    genReqId: (request: IncomingMessage) => {
      const given = request.headers['x-request-id'];
      // Every log line carries the id: one that holds a key or a phone number is replaced, not logged.
      const isUsable =
        typeof given === 'string' && SANE_REQUEST_ID.test(given) && !holdsSensitiveValue(given, secrets);
      return isUsable ? given : randomUUID();
    },
    bodyLimit: config.bodyLimitBytes,
    // Slow or idle clients must not hold sockets forever. Keep-alive outlasts the 60 s idle timeout most
    // proxies and load balancers use, so that they, not the service, close idle connections: no request
    // races a close.
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 65_000,
    routerOptions: { ignoreTrailingSlash: true },
    // Behind a load balancer the client's address is in X-Forwarded-For; per-IP limits need the real one.
    trustProxy: config.trustProxy,
    // Our own 503 while closing (below), as problem+json with Retry-After, instead of Fastify's.
    return503OnClosing: false,
    // What Fastify and Node refuse before routing is answered as problem details too (protocol-errors.ts).
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    forceCloseConnections: 'idle',
    schemaController: { compilersFactory: { buildValidator: buildValidatorCompiler } },
    // The serializer compiles the same schemas; our formats are input rules, nothing for it to check.
    serializerOpts: {
      ajv: { formats: { [FORMATS.money]: true, [FORMATS.amount]: true, [FORMATS.phoneNumber]: true } },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Fastify parses text/plain by default; the API takes JSON only, so anything else is a 415
  // (docs/api.md, Errors).
  app.removeContentTypeParser('text/plain');
  await app.register(jsonBodyPlugin);

  const database =
    overrides.database ??
    (await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.dbPoolSize }));
  if (!overrides.database) {
    app.addHook('onClose', () => database.close());
    await migrateDatabase(database, { url: config.databaseUrl });
  }

  const { db } = database;
  const metrics = createMetrics({ poolStats: database.poolStats });
  const redis = config.redisUrl ? createRedis(config.redisUrl, app.log) : undefined;
  if (redis) {
    await redis.connect().catch(() => {}); // Down at start-up: the fallbacks serve, and it keeps retrying.
    app.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
  }
  const revocations = redis
    ? createRedisRevocationBus(
        await createRedisBroadcast<string>({
          redis,
          channel: `${config.redisPrefix}api-keys:revoked`,
          log: app.log,
        }),
      )
    : createLocalRevocationBus();
  app.addHook('onClose', () => revocations.close());

  const catalogCache = await createCatalogCache({ redis, prefix: config.redisPrefix, log: app.log });
  app.addHook('onClose', () => catalogCache.close());
  const catalogs = createCatalogRepository(db);
  const versionWatch = watchCatalogVersion({
    catalogs,
    cache: catalogCache,
    everyMs: config.catalogVersionPollMs,
    log: app.log,
  });
  app.addHook('preClose', () => versionWatch.stop());

  const catalogService = createCatalogService({
    cache: catalogCache,
    cacheMetrics: metrics.catalogCache,
    catalogs,
    transaction: createUnitOfWork(db, (trx) => ({
      catalogs: createCatalogRepository(trx),
      audit: createAuditRepository(trx),
    })),
  });
  const lifecycle = createLifecycle(config, database, app.log, metrics, overrides.resolve);
  // Stopped before requests drain: waiting requests answer at once, and nothing new is claimed.
  app.addHook('preClose', () => lifecycle.stop());
  app.addHook('onClose', () => lifecycle.close());
  app.addHook('onReady', async () => lifecycle.start());
  const rechargeService = createRechargeService({
    recharges: createRechargeRepository(db, {
      batching: config.rechargeBatch,
      notifyChannel: lifecycle.notifyChannel,
    }),
    waiters: lifecycle.waiters,
    onCreated: lifecycle.stored,
  });
  // The same wiring as the operators' CLI.
  const apiKeyService = createApiKeyServiceOn(db, { revocations, adminApiKey: config.adminApiKey });
  if (config.seedDemoData) await seedDemoCatalogs(catalogService, app.log);
  const accountService = createAccountServiceOn(db);
  scheduleIdempotencyPurge(app, [rechargeService, accountService], config.idempotencyKeyTtlMs);

  await app.register(gatePlugin, { overload: { maxEventLoopDelayMs: config.overloadMaxEventLoopDelayMs } });
  await app.register(requestLogPlugin, { observe: metrics.observeResponse });

  for (const schema of [ProblemSchema, CatalogSchema, RechargeInputSchema, RechargeSchema])
    app.addSchema(schema);
  await app.register(errorsPlugin, { bodyLimitBytes: config.bodyLimitBytes });
  if (config.corsOrigins.length > 0) await app.register(corsPlugin, { origins: config.corsOrigins });
  // Rate limits (docs/api.md) run in this order: per-IP ceiling, auth (a wrong key counts towards the
  // lockout), per key and client.
  const rateLimits = createRateLimits({
    store: createRateLimitStore({ redis, keyPrefix: `${config.redisPrefix}rl:`, log: app.log }),
    perKeyPerMinute: config.rateLimitPerMinute,
    perAddressPerMinute: config.rateLimitPerIpPerMinute,
    authFailuresPerMinute: config.authFailuresPerMinute,
    rechargesPerClientPerMinute: config.rechargesPerClientPerMinute,
  });
  await app.register(rateLimits.plugin);
  await app.register(authPlugin, {
    authenticate: apiKeyService.authenticate,
    onFailure: (request, token) => rateLimits.countAuthFailure(request, keyIdOf(token)),
    beforeAuth: rateLimits.beforeAuth,
    afterAuth: rateLimits.afterAuth,
  });
  await app.register(docsPlugin, { version: '0.1.0', bodyLimitBytes: config.bodyLimitBytes });
  // After the docs, so that OpenAPI lists /metrics; before the recharge route, whose refusal codes it reads.
  await app.register(metricsPlugin, { metrics, port: config.metricsPort, host: config.host });
  await app.register(healthPlugin, { isReady: database.ping });
  await app.register(catalogRoutes, { service: catalogService });
  await app.register(rechargeRoutes, { service: rechargeService });
  await app.register(apiKeyRoutes, { service: apiKeyService });
  await app.register(accountRoutes, { service: accountService });
  await app.register(webhookRoutes, {
    service: createWebhookService({
      webhooks: createWebhookRepository(db),
      transaction: createUnitOfWork(db, (trx) => ({ webhooks: createWebhookRepository(trx) })),
      guard: lifecycle.urlGuard,
      onResend: () => lifecycle.delivery?.wake(),
    }),
  });
  await app.register(auditRoutes, { audit: createAuditRepository(db) });
  if (lifecycle.sandbox) await app.register(sandboxCarrierRoutes, { topUps: lifecycle.sandbox.topUps });
  return app;
}
