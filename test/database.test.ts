import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createDatabase, preparedStatement } from '../src/db/database.js';
import { createMigrator, migrateDatabase } from '../src/db/migrate.js';
import { createRechargeRepository } from '../src/modules/recharges/recharges.repository.js';
import { AppError } from '../src/shared/errors.js';
import { createTestDatabase, databaseTargets, seedClaroAndShop } from './helpers/databases.js';

describe.each(databaseTargets)('database on %s', (target) => {
  it('when one transaction rolls back while another runs, then only its own work is undone', async () => {
    const database = await createTestDatabase(target);
    try {
      const { db } = database;
      const failing = db.transaction().execute(async (trx) => {
        await trx.insertInto('companies').values({ company_id: 'rolled_back' }).execute();
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw new Error('abort');
      });
      const committed = db.transaction().execute(async (trx) => {
        await trx.insertInto('companies').values({ company_id: 'committed' }).execute();
      });
      await expect(failing).rejects.toThrow('abort');
      await committed;
      const rows = await db.selectFrom('companies').select('company_id').execute();
      expect(rows).toEqual([{ company_id: 'committed' }]);
    } finally {
      await database.close();
    }
  });

  it('when a recharge is inserted, then its statement is prepared once per connection on PostgreSQL', async () => {
    const database = await createTestDatabase(target);
    try {
      await seedClaroAndShop(database.db);
      const recharge = (id: string) => ({
        id,
        company_id: 'claro_11',
        product_id: 'claro_10',
        phone_number: '5511999999999',
        value_cents: 1000,
        client: 'shop',
      });
      // One connection throughout, so its session's prepared statements can be read.
      const prepared = await database.db.connection().execute(async (connection) => {
        const recharges = createRechargeRepository(connection);
        const outcomes = [];
        for (const [index, id] of [
          '01900000-0000-7000-8000-000000000001',
          '01900000-0000-7000-8000-000000000002',
        ].entries()) {
          const claim = { key: `key-${index}`, fingerprint: 'f' };
          outcomes.push((await recharges.insertPriced(recharge(id), claim)).outcome);
        }
        outcomes.push(
          (
            await recharges.insertPriced(recharge('01900000-0000-7000-8000-000000000001'), {
              key: 'key-0',
              fingerprint: 'f',
            })
          ).outcome,
        );
        expect(outcomes).toEqual(['created', 'created', 'replayed']);
        if (target === 'pglite') return [];
        const { rows } = await sql<{ name: string; statement: string }>`
          select name, statement from pg_prepared_statements`.execute(connection);
        return rows;
      });
      if (target === 'pglite') return; // The marker is a comment there; the outcomes above are what count.
      expect(prepared.map(({ name }) => name)).toEqual(['recharges_priced_insert']);
      expect(prepared[0]?.statement).toMatch(
        /^\/\* prepared:recharges_priced_insert \*\/\s+select \* from recharges_priced_insert\(/,
      );
      const stored = await database.db.selectFrom('idempotency_keys').select('key').orderBy('key').execute();
      expect(stored).toEqual([{ key: 'key-0' }, { key: 'key-1' }]);
    } finally {
      await database.close();
    }
  });

  it('answers ping while open, and not once closed', async () => {
    const database = await createTestDatabase(target);
    expect(await database.ping()).toBe(true);
    await database.close();
    expect(await database.ping()).toBe(false);
  });
});

describe('preparedStatement', () => {
  it('when a name is not lower-case letters and underscores, then it refuses it', () => {
    for (const name of ['', 'Upper', 'with space', 'x */ drop table recharges; /*']) {
      expect(() => preparedStatement(name), name).toThrow('bad prepared statement name');
    }
    expect(() => preparedStatement('recharges_priced_insert')).not.toThrow();
  });
});

describe('an unreachable PostgreSQL', () => {
  it('when the server cannot be reached, then queries fail fast as 503 unavailable and ping is false', async () => {
    // Port 1 on loopback refuses at once: nothing listens there.
    const database = await createDatabase({ url: 'postgres://postgres@127.0.0.1:1/none' });
    try {
      const started = Date.now();
      const failure = await sql`select 1`.execute(database.db).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AppError);
      expect(failure).toMatchObject({ code: 'unavailable', status: 503, headers: { 'retry-after': '5' } });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await database.ping()).toBe(false);
    } finally {
      await database.close();
    }
  });
});

describe('a PGlite data directory', () => {
  it('keeps data across a close and reopen', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dataDir = await mkdtemp(`${tmpdir()}/pglite-`);
    const first = await createDatabase({ dataDir });
    await sql`create table kept (n int)`.execute(first.db);
    await sql`insert into kept values (42)`.execute(first.db);
    await first.close();
    const second = await createDatabase({ dataDir });
    const { rows } = await sql<{ n: number }>`select n from kept`.execute(second.db);
    expect(rows).toEqual([{ n: 42 }]);
    await second.close();
  });

  it('is opened by one holder at a time; a lock left by a process that died is taken over', async () => {
    const { mkdir, mkdtemp, utimes } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dataDir = await mkdtemp(`${tmpdir()}/pglite-`);
    const first = await createDatabase({ dataDir });
    await expect(createDatabase({ dataDir })).rejects.toThrow(
      `is already open by another process (process ${process.pid})`,
    );
    await first.close();

    // The lock of a process killed a minute ago: never refreshed since.
    await mkdir(`${dataDir}/recharge-api.lock`);
    const aMinuteAgo = new Date(Date.now() - 60_000);
    await utimes(`${dataDir}/recharge-api.lock`, aMinuteAgo, aMinuteAgo);
    const again = await createDatabase({ dataDir });
    expect((await sql<{ one: number }>`select 1 as one`.execute(again.db)).rows).toEqual([{ one: 1 }]);
    await again.close();
  });

  it('is refused to two processes starting at once, whatever their process ids', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { spawn } = await import('node:child_process');
    const dataDir = await mkdtemp(`${tmpdir()}/pglite-`);
    // Each child opens the directory, says so, and holds it longer than another waits to see it refreshed.
    const script = `
      import { createDatabase } from './src/db/database.ts';
      try {
        const database = await createDatabase({ dataDir: ${JSON.stringify(dataDir)} });
        console.log('opened');
        await new Promise((resolve) => setTimeout(resolve, 8000));
        await database.close();
      } catch (error) {
        console.log(error.name);
      }`;
    const outputs = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
        });
        await new Promise((resolve) => child.on('exit', resolve));
        return output.trim();
      }),
    );
    expect(outputs.sort()).toEqual(['DataDirBusyError', 'DataDirBusyError', 'opened']);
  }, 30_000);
});

describe.each(process.env.TEST_DATABASE_URL ? ['postgres' as const] : [])('migrations on %s', (target) => {
  it('wait out a lock longer than the statement timeout that bounds a request, and apply', async () => {
    const database = await createTestDatabase(target);
    const holder = await createDatabase({
      url: database.url,
      schema: database.schema,
      poolSize: 1,
      timeouts: false,
    });
    try {
      const migrator = await createMigrator(database.db);
      expect((await migrator.migrateTo('0010-cooldown-after-accepted')).error).toBeUndefined();
      // Another session holds the table 0011 alters for 3.5 s, past the pool's 2.5 s statement timeout.
      const held = holder.db.transaction().execute(async (trx) => {
        await sql`lock table webhook_endpoints in access exclusive mode`.execute(trx);
        await sql`select pg_sleep(3.5)`.execute(trx);
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const results = await migrateDatabase(database, { url: database.url, schema: database.schema });
      await held;
      expect(results.map((result) => [result.migrationName, result.status])).toEqual([
        ['0011-webhook-secrets', 'Success'],
      ]);
    } finally {
      await holder.close();
      await database.close();
    }
  }, 20_000);
});
