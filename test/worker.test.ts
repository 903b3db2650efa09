import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { postJson, rechargeBody, sendAdminKeyByDefault, testConfig } from './helpers/app.js';
import { createTestDatabase } from './helpers/databases.js';

// A worker and an API instance share a database only on a real PostgreSQL.
const targets = process.env.TEST_DATABASE_URL ? (['postgres'] as const) : [];

describe.each(targets)('npm run worker on %s', (target) => {
  it('dispatches what an API instance with DISPATCHER=off stores, answers probes, and stops on SIGTERM', async () => {
    const database = await createTestDatabase(target);
    const url = `${database.url}?options=${encodeURIComponent(`-c search_path=${database.schema}`)}`;
    const worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: { ...process.env, NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DATABASE_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    worker.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    worker.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = once(worker, 'exit').then(([code]) => code as number | null);
    const api = sendAdminKeyByDefault(
      await buildApp(testConfig({ SEED_DEMO_DATA: 'true', DISPATCHER: 'off' }), {
        database,
        logStream: new PassThrough(),
      }),
    );
    try {
      await expect
        .poll(() => /listening at (http:\/\/[^"\s]+)/.exec(output)?.[1], { timeout: 20_000 })
        .toBeDefined();
      const base = /listening at (http:\/\/[^"\s]+)/.exec(output)?.[1] as string;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/PhoneRecharges`)).status).toBe(404);

      const response = await postJson(api, '/PhoneRecharges', rechargeBody, { prefer: 'wait=10' });
      expect(response.json()).toMatchObject({ status: 'completed' });
      expect(output).toContain(response.json().id);

      worker.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('worker stopping');
    } finally {
      worker.kill('SIGKILL');
      await api.close();
      await database.close();
    }
  }, 40_000);
});
