import Fastify, { LogController } from 'fastify';
import { loadConfig } from './config.js';
import { createDatabase } from './db/database.js';
import { migrateDatabase } from './db/migrate.js';
import { createLifecycle } from './lifecycle.js';
import { loggerOptions, loggingOptions } from './logging.js';
import { healthPlugin } from './plugins/health.js';
import { createMetrics, serveMetricsPort } from './plugins/metrics.js';
import { requestLogPlugin } from './plugins/request-log.js';
import { exitOnStartupProblem } from './startup.js';

// `npm run worker`: the dispatcher and the webhook delivery alone, for a deployment that keeps them apart from
// the API (whose instances then run with DISPATCHER=off). It serves /healthz and /readyz on PORT for the
// platform's probes, and /metrics on METRICS_PORT when it is set.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({ ...process.env, DISPATCHER: 'on' });
} catch (error) {
  exitOnStartupProblem('recharge-api worker', error);
}

// The API's logging: one line per request (request-log.ts), credentials and phone numbers masked.
const app = Fastify({
  ...loggingOptions(config, loggerOptions(config)),
  logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
});
const database = await createDatabase({
  url: config.databaseUrl,
  dataDir: config.dataDir,
  poolSize: config.dbPoolSize,
}).catch((error: unknown) => exitOnStartupProblem('recharge-api worker', error));
await migrateDatabase(database, { url: config.databaseUrl }).catch((error: unknown) =>
  exitOnStartupProblem('recharge-api worker', error),
);
const metrics = createMetrics({ poolStats: database.poolStats });
await app.register(requestLogPlugin, { observe: metrics.observeResponse });
const lifecycle = createLifecycle(config, database, app.log, metrics);
await app.register(healthPlugin, { isReady: database.ping });
if (config.metricsPort !== undefined)
  serveMetricsPort(app, metrics.registry, config.metricsPort, config.host);
app.addHook('onReady', async () => lifecycle.start());
app.addHook('preClose', () => lifecycle.stop());
app.addHook('onClose', async () => {
  await lifecycle.close();
  await database.close();
});

let closing = false;
async function shutdown(signal: NodeJS.Signals) {
  if (closing) return;
  closing = true;
  app.log.info({ signal }, 'worker stopping: no new claims, finishing the calls in flight');
  const deadline = setTimeout(() => {
    app.log.error('shutdown deadline passed; exiting with carrier calls still open');
    process.exit(1);
  }, config.shutdownTimeoutMs);
  deadline.unref();
  await app.close();
  app.log.info('shutdown complete');
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

await app.listen({ port: config.port, host: config.host });
