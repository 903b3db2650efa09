import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAccountCli } from '../src/cli/account.js';
import { runApiKeyCli } from '../src/cli/apikey.js';
import { createDatabase } from '../src/db/database.js';
import { createTestApp } from './helpers/app.js';
import { withSearchPath } from './helpers/databases.js';

async function run(argv: string[], env: NodeJS.ProcessEnv, cli = runApiKeyCli) {
  let out = '';
  let err = '';
  const code = await cli(argv, env, {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
  });
  return { code, out, err };
}

describe('npm run apikey', () => {
  it('creates, lists and revokes keys on the configured database', async () => {
    const env = { DATA_DIR: await mkdtemp(path.join(tmpdir(), 'apikey-cli-')), NODE_ENV: 'test' };
    const created = await run(
      [
        'create',
        '--name',
        'partner a',
        '--client',
        'partner_a',
        '--scopes',
        'recharges:read,recharges:write',
      ],
      env,
    );
    expect(created.code).toBe(0);
    const key = JSON.parse(created.out) as Record<string, unknown>;
    expect(key).toMatchObject({
      name: 'partner a',
      client: 'partner_a',
      scopes: ['recharges:read', 'recharges:write'],
      key: expect.stringMatching(/^rk_[0-9a-f]{16}_[\w-]{43}$/),
    });
    expect(created.err).toContain('not shown again');

    const listed = await run(['list'], env);
    expect(listed).toEqual({
      code: 0,
      out: `${key.id}\tpartner_a\trecharges:read,recharges:write\tpartner a\n`,
      err: '',
    });

    expect(await run(['revoke', '--id', String(key.id)], env)).toEqual({
      code: 0,
      out: `revoked ${key.id}\n`,
      err: '',
    });
    expect((await run(['list'], env)).out).toBe('');
    expect(await run(['revoke', '--id', String(key.id)], env)).toEqual({
      code: 1,
      out: '',
      err: `no active API key ${key.id}\n`,
    });
  });

  it('when REDIS_URL names a Redis that is down, then the commands still work and say what that means', async () => {
    const env = {
      DATA_DIR: await mkdtemp(path.join(tmpdir(), 'apikey-cli-')),
      NODE_ENV: 'test',
      REDIS_URL: 'redis://127.0.0.1:1',
    };
    const created = await run(
      ['create', '--name', 'n', '--client', 'c_1', '--scopes', 'recharges:read'],
      env,
    );
    expect(created.code).toBe(0);
    const { id } = JSON.parse(created.out) as { id: string };
    const revoked = await run(['revoke', '--id', id], env);
    expect(revoked).toMatchObject({ code: 0, out: `revoked ${id}\n` });
    expect(revoked.err).toMatch(/Redis is unreachable .*within 60 s/);
    expect((await run(['list'], env)).out).toBe('');
  });

  it('when a key would act for the bootstrap client admin, then it exits 1 with the reason and prints no key', async () => {
    // Refused before anything is written: a database in memory is enough.
    const env = { DATA_DIR: 'memory://', NODE_ENV: 'test' };
    expect(await run(['create', '--name', 'admin', '--scopes', 'recharges:read'], env)).toEqual({
      code: 1,
      out: '',
      err: 'the client defaults to the name, and admin is reserved for the bootstrap admin key: give another client (client: must not be admin)\n',
    });
  });

  it.each([
    [['create', '--name', 'x', '--scopes', 'everything'], /invalid scopes/],
    [['create', '--name', 'bad name!', '--scopes', 'admin'], /invalid name/],
    [['create', '--scopes', 'admin'], /missing or incomplete command/],
    [['create', '--name', 'x', '--client', '', '--scopes', 'admin'], /invalid client/],
    [['delete'], /missing or incomplete command/],
  ])('when the arguments are %j, then it exits 2 with the reason and the usage', async (argv, reason) => {
    const result = await run(argv, { DATA_DIR: 'unused', NODE_ENV: 'test' });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(reason);
    expect(result.err).toContain('usage:');
  });

  it('when the configuration is bad, then it exits 2 naming the variable', async () => {
    const result = await run(['list'], { DATABASE_URL: 'mysql://nope' });
    expect(result).toMatchObject({ code: 2, err: expect.stringContaining('DATABASE_URL') });
  });

  it('when asked for help, then it prints the usage and exits 0', async () => {
    for (const cli of [runApiKeyCli, runAccountCli]) {
      const result = await run(['--help'], { DATA_DIR: 'unused', NODE_ENV: 'test' }, cli);
      expect(result).toMatchObject({ code: 0, out: expect.stringContaining('usage:'), err: '' });
    }
  });

  it('when the database cannot be reached, then it exits 1 with one line naming the address', async () => {
    // Port 1 on the loopback refuses at once.
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', NODE_ENV: 'test' };
    for (const cli of [runApiKeyCli, runAccountCli]) {
      const result = await run(cli === runApiKeyCli ? ['list'] : ['show', '--client', 'x'], env, cli);
      expect(result).toEqual({
        code: 1,
        out: '',
        err: 'the database cannot be reached (ECONNREFUSED 127.0.0.1:1)\n',
      });
    }
  });

  it('when the embedded database is open in another process, then it exits 1 and changes nothing', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'apikey-cli-'));
    // As a running server holds it.
    const server = await createDatabase({ dataDir });
    try {
      const result = await run(['create', '--name', 'late', '--scopes', 'recharges:read'], {
        DATA_DIR: dataDir,
        NODE_ENV: 'test',
      });
      expect(result.code).toBe(1);
      expect(result.out).toBe('');
      expect(result.err).toContain('is already open by another process');
    } finally {
      await server.close();
    }
    const listed = await run(['list'], { DATA_DIR: dataDir, NODE_ENV: 'test' });
    expect(listed).toMatchObject({ code: 0 });
    expect(listed.out).not.toContain('late');
  });
});

// The CLI and a running server share PostgreSQL and Redis: a revocation from a shell reaches the server.
const sharedTargets =
  process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL ? [process.env.TEST_REDIS_URL] : [];

describe('npm run account', () => {
  it('deposits, adjusts and shows an account, in the audit trail as the operator', async () => {
    const env = { DATA_DIR: await mkdtemp(path.join(tmpdir(), 'account-cli-')), NODE_ENV: 'test' };
    const account = (argv: string[]) => run(argv, env, runAccountCli);
    expect((await run(['create', '--name', 'shop_cli', '--scopes', 'recharges:write'], env)).code).toBe(0);

    const deposit = await account([
      'deposit',
      '--client',
      'shop_cli',
      '--amount',
      '150.50',
      '--note',
      'wire 7',
    ]);
    expect(deposit.code).toBe(0);
    expect(JSON.parse(deposit.out)).toMatchObject({
      client: 'shop_cli',
      type: 'deposit',
      amount: 150.5,
      balance_after: 150.5,
      note: 'wire 7',
    });
    const adjusted = await account(['adjust', '--client', 'shop_cli', '--amount=-0.50', '--note', 'fee']);
    expect(JSON.parse(adjusted.out)).toMatchObject({ type: 'adjustment', amount: -0.5, balance_after: 150 });
    const shown = await account(['show', '--client', 'shop_cli']);
    expect(JSON.parse(shown.out)).toMatchObject({ client: 'shop_cli', balance: 150, available: 150 });

    expect(await account(['adjust', '--client', 'shop_cli', '--amount=-5'])).toEqual({
      code: 1,
      out: '',
      err: 'an adjustment says why (note: is required for an adjustment)\n',
    });
    expect((await account(['deposit', '--client', 'nobody', '--amount', '5'])).err).toBe(
      'client nobody has no account (it has never had a key)\n',
    );
    const bad = await account(['deposit', '--client', 'shop_cli', '--amount', '1.005']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--amount must be an amount');
    // The notes POST /LedgerEntries refuses: empty, or over 500 characters.
    for (const note of ['', 'x'.repeat(501)]) {
      const refused = await account(['deposit', '--client', 'shop_cli', '--amount', '5', '--note', note]);
      expect(refused.code).toBe(2);
      expect(refused.err).toContain('invalid note');
    }

    const database = await createDatabase({ dataDir: env.DATA_DIR });
    try {
      const events = await database.db
        .selectFrom('audit_events')
        .select(['action', 'actor_key_id'])
        .where('action', 'like', 'ledger.%')
        .orderBy('id')
        .execute();
      expect(events).toEqual([
        { action: 'ledger.deposit', actor_key_id: 'cli' },
        { action: 'ledger.adjustment', actor_key_id: 'cli' },
      ]);
    } finally {
      await database.close();
    }
  });
});

describe.each(sharedTargets)('npm run apikey beside a server (Redis %s)', (redisUrl) => {
  it('when a key is revoked from the CLI, then the server refuses it at once', async () => {
    const prefix = `cli-${randomBytes(4).toString('hex')}:`;
    const { app, database, close } = await createTestApp('postgres', {
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
    });
    try {
      const env = {
        DATABASE_URL: withSearchPath(String(database.url), String(database.schema)),
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        NODE_ENV: 'test',
      };
      const created = JSON.parse(
        (await run(['create', '--name', 'ops', '--scopes', 'catalog:read'], env)).out,
      );
      const read = () =>
        app.inject({
          method: 'GET',
          url: '/CompanyProducts',
          headers: { authorization: `Bearer ${created.key}` },
        });
      expect((await read()).statusCode).toBe(200);
      expect((await run(['revoke', '--id', created.id], env)).code).toBe(0);
      expect((await read()).statusCode).toBe(401);
    } finally {
      await close();
    }
  });
});
