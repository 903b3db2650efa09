import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/database.js';

// The form Cloud Run's Cloud SQL connection gives: a unix socket under /cloudsql/PROJECT:REGION:INSTANCE.
const INSTANCE = 'my-project:southamerica-east1:recharge-api';
const CLOUD_RUN_URL = `postgresql://recharge-api@/recharge?host=/cloudsql/${INSTANCE}`;

describe('DATABASE_URL for Cloud SQL through its unix socket', () => {
  it('is accepted by the configuration as it is', () => {
    expect(loadConfig({ DATABASE_URL: CLOUD_RUN_URL }).databaseUrl).toBe(CLOUD_RUN_URL);
  });

  it("is read by pg as the socket's directory, with the password from PGPASSWORD (a Secret Manager secret)", () => {
    const saved = process.env.PGPASSWORD;
    process.env.PGPASSWORD = 'from-secret-manager';
    try {
      const client = new pg.Client({ connectionString: CLOUD_RUN_URL });
      expect({
        host: client.host,
        user: client.user,
        database: client.database,
        password: client.password,
        port: client.port,
      }).toEqual({
        host: `/cloudsql/${INSTANCE}`,
        user: 'recharge-api',
        database: 'recharge',
        password: 'from-secret-manager',
        port: 5432,
      });
    } finally {
      if (saved === undefined) delete process.env.PGPASSWORD;
      else process.env.PGPASSWORD = saved;
    }
  });
});

const pgTargets = process.env.TEST_DATABASE_URL ? [process.env.TEST_DATABASE_URL] : [];

/**
 * What the Cloud SQL connection does on Cloud Run, in miniature: a socket at DIR/PROJECT:REGION:INSTANCE/.s.PGSQL.5432
 * that forwards to the server; the service then reaches PostgreSQL with nothing but DATABASE_URL.
 */
describe.each(pgTargets)('the service through a Cloud SQL-style socket to %s', (url) => {
  let dir: string;
  let proxy: Server;
  const sockets = new Set<Socket>();
  let accepted = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudsql-'));
    await mkdir(join(dir, INSTANCE));
    const target = new URL(url);
    proxy = createServer((inbound) => {
      accepted += 1;
      const outbound = connect(Number(target.port || 5432), target.hostname);
      for (const socket of [inbound, outbound]) {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => proxy.listen(join(dir, INSTANCE, '.s.PGSQL.5432'), resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => proxy.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('when DATABASE_URL names the socket directory, then the pool connects through it and queries', async () => {
    const target = new URL(url);
    const user = decodeURIComponent(target.username) || 'postgres';
    const databaseName = target.pathname.slice(1);
    const config = loadConfig({
      DATABASE_URL: `postgresql://${user}@/${databaseName}?host=${join(dir, INSTANCE)}`,
    });
    const database = await createDatabase({ url: config.databaseUrl, poolSize: 2 });
    try {
      expect(await database.ping()).toBe(true);
      expect(database.poolStats()).toMatchObject({ total: 1, waiting: 0 });
      expect(accepted).toBeGreaterThanOrEqual(1);
    } finally {
      await database.close();
    }
  });
});
