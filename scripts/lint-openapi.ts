import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

// `npm run lint:openapi`: `redocly lint` (rules in redocly.yaml) over the document the server serves, read
// from GET /openapi.json of the app built in-process on an embedded database in memory.

const ROOT = path.resolve(import.meta.dirname, '..');

const config = loadConfig({
  NODE_ENV: 'test',
  DATA_DIR: 'memory://',
  SEED_DEMO_DATA: 'false',
  ADMIN_API_KEY: randomBytes(24).toString('hex'),
});
const app = await buildApp(config, { logStream: new PassThrough() });
const response = await app.inject({ method: 'GET', url: '/openapi.json' });
await app.close();
if (response.statusCode !== 200) throw new Error(`GET /openapi.json answered ${response.statusCode}`);

const dir = await mkdtemp(path.join(tmpdir(), 'recharge-api-openapi-'));
try {
  const file = path.join(dir, 'openapi.json');
  // Indented, so that a finding points at a line of its own.
  await writeFile(file, JSON.stringify(response.json(), null, 2));
  const redocly = path.join(ROOT, 'node_modules', '.bin', 'redocly');
  const lint = spawnSync(redocly, ['lint', '--config', path.join(ROOT, 'redocly.yaml'), file], {
    stdio: 'inherit',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  process.exitCode = lint.status ?? 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
