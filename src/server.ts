import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { generateApiKey } from './modules/api-keys/index.js';
import { exitOnStartupProblem } from './startup.js';

// Entry point: configuration, app, listen; on SIGTERM/SIGINT stop accepting, drain, close pools, exit 0.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  exitOnStartupProblem('recharge-api', error);
}

if (!config.adminApiKey && config.nodeEnv !== 'production') {
  // A development convenience (docs/api.md, API keys): a fresh admin key for this run, shown once, outside
  // the JSON logs.
  const { key } = generateApiKey();
  config = Object.freeze({ ...config, adminApiKey: key });
  process.stderr.write(
    `recharge-api: ADMIN_API_KEY is not set; the admin key for this run (not stored, shown once):\n  ${key}\n`,
  );
}

const app = await buildApp(config).catch((error: unknown) => exitOnStartupProblem('recharge-api', error));

let closing = false;
async function shutdown(signal: NodeJS.Signals) {
  if (closing) return;
  closing = true;
  app.log.info({ signal }, 'shutting down: draining in-flight requests');
  const deadline = setTimeout(() => {
    app.log.error('shutdown deadline passed; exiting with requests still open');
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
