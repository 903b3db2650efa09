import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createTestDatabase, type DatabaseTarget, type TestDatabase } from './databases.js';

export type TestApp = {
  app: FastifyInstance;
  database: TestDatabase;
  /** Every JSON log line the app wrote so far. */
  logs(): Record<string, unknown>[];
  close(): Promise<void>;
};

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'info', SEED_DEMO_DATA: 'false', ...env });
}

/** The production buildApp on a fresh database, with its logs captured. */
export async function createTestApp(
  target: DatabaseTarget,
  env: Record<string, string> = {},
): Promise<TestApp> {
  const database = await createTestDatabase(target);
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const app = await buildApp(testConfig(env), { database, logStream: stream });
  await app.ready();
  return {
    app,
    database,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    async close() {
      await app.close();
      await database.close();
    },
  };
}

export const claro = {
  company_id: 'claro_11',
  products: [
    { id: 'claro_10', value: 10 },
    { id: 'claro_20', value: 20 },
  ],
};

export const tim = {
  company_id: 'tim_11',
  products: [
    { id: 'tim_10', value: 10 },
    { id: 'tim_20', value: 20 },
  ],
};

export const rechargeBody = {
  company_id: 'claro_11',
  product_id: 'claro_10',
  phone_number: '5511999999999',
  value: 10.0,
};

/** Sends a JSON body through the real HTTP stack (content type, parser, validation). */
export function postJson(
  app: FastifyInstance,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function putJson(
  app: FastifyInstance,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'PUT',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
