import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKey,
  createTestApp,
  postJson,
  TEST_ADMIN_KEY,
  type TestApp,
  type TestKey,
} from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';
import { startServerProcess } from './helpers/process.js';

const KEY_PATTERN = /^rk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
/** A key as GET /ApiKeys lists it. */
const withoutKey = ({ key: _key, headers: _headers, ...listed }: TestKey) => listed;

const UNAUTHENTICATED = {
  code: 'unauthenticated',
  detail: 'a valid API key is required: send Authorization: Bearer <key>',
};

describe.each(databaseTargets)('API keys on %s', (target) => {
  const t = useTestApp(target, { empty: ['api_keys'] });

  it('when an admin creates a key, then 201 with the key, shown once, and client defaulting to name', async () => {
    const response = await postJson(t().app, '/ApiKeys', { name: 'shop-1', scopes: ['recharges:read'] });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      name: 'shop-1',
      client: 'shop-1',
      scopes: ['recharges:read'],
      created_at: expect.stringMatching(ISO_MILLIS),
      key: expect.stringMatching(KEY_PATTERN),
    });
    expect(body.key.startsWith(`rk_${body.id}_`)).toBe(true);
    expect(Math.abs(Date.parse(body.created_at) - Date.now())).toBeLessThan(60_000);

    const named = await createKey(t().app, {
      name: 'till 2',
      client: 'shop-1',
      scopes: ['admin', 'catalog:read'],
    });
    expect(named).toMatchObject({ name: 'till 2', client: 'shop-1', scopes: ['admin', 'catalog:read'] });
  });

  it('when keys are listed, then the active ones, oldest first, without the key itself', async () => {
    const first = await createKey(t().app, { name: 'first', scopes: ['catalog:read'] });
    const second = await createKey(t().app, { name: 'second', client: 'acme', scopes: ['recharges:write'] });
    const response = await t().app.inject({ method: 'GET', url: '/ApiKeys' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual([withoutKey(first), withoutKey(second)]);
  });

  it('when a key is revoked, then 204 with no body, it is refused at once, unlisted, and a second DELETE is 404', async () => {
    const kept = await createKey(t().app, { name: 'kept', scopes: ['catalog:read'] });
    const revoked = await createKey(t().app, { name: 'revoked', scopes: ['catalog:read'] });
    const before = await t().app.inject({ url: '/CompanyProducts', headers: revoked.headers });
    expect(before.statusCode).toBe(200);

    const deleted = await t().app.inject({ method: 'DELETE', url: `/ApiKeys?id=${revoked.id}` });
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');

    const after = await t().app.inject({ url: '/CompanyProducts', headers: revoked.headers });
    expectProblem(after, 401, UNAUTHENTICATED);
    expect(after.headers['www-authenticate']).toBe('Bearer realm="recharge-api"');
    expect((await t().app.inject({ url: '/CompanyProducts', headers: kept.headers })).statusCode).toBe(200);
    expect((await t().app.inject({ url: '/ApiKeys' })).json()).toEqual([withoutKey(kept)]);

    const again = await t().app.inject({ method: 'DELETE', url: `/ApiKeys?id=${revoked.id}` });
    expectProblem(again, 404, { code: 'not_found', detail: `no active API key ${revoked.id}` });
  });

  it.each([
    ['an unknown scope', { name: 'x', scopes: ['recharges:delete'] }, '/scopes/0'],
    ['empty scopes', { name: 'x', scopes: [] }, '/scopes'],
    ['duplicate scopes', { name: 'x', scopes: ['admin', 'admin'] }, '/scopes'],
    ['a client outside A-Z a-z 0-9 _ -', { name: 'x', client: 'bad client!', scopes: ['admin'] }, '/client'],
    ['an unknown field', { name: 'x', scopes: ['admin'], owner: 'me' }, '/owner'],
    ['no name', { scopes: ['admin'] }, '/name'],
    ['no scopes', { name: 'x' }, '/scopes'],
  ])('when the new key has %s, then 400 naming %s and nothing is stored', async (_case, body, path) => {
    const response = await postJson(t().app, '/ApiKeys', body);
    expectProblem(response, 400, {
      code: 'invalid_request',
      detail: 'the body is invalid',
      errors: expect.arrayContaining([{ path, message: expect.any(String) }]),
    });
    const { errors } = response.json() as { errors: { path: string }[] };
    expect(errors.every((error) => error.path === path)).toBe(true);
    expect((await t().app.inject({ url: '/ApiKeys' })).json()).toEqual([]);
  });

  it('when a scope is unknown, then one error lists the scopes there are', async () => {
    const response = await postJson(t().app, '/ApiKeys', { name: 'x', scopes: ['recharges:delete'] });
    expect(response.json().errors).toEqual([
      {
        path: '/scopes/0',
        message:
          'must be one of catalog:read, catalog:write, recharges:read, recharges:write, accounts:read, webhooks:read, webhooks:write, admin',
      },
    ]);
  });

  it('when the name cannot be a client and no client is given, then 400 asks for a client', async () => {
    const response = await postJson(t().app, '/ApiKeys', { name: 'shop one', scopes: ['catalog:read'] });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'invalid_request',
      detail: 'client is required when the name is not a valid client id',
      errors: [{ path: '/client', message: 'give a client of 1–64 characters of A-Z a-z 0-9 _ -' }],
    });
    const named = await postJson(t().app, '/ApiKeys', {
      name: 'shop one',
      client: 'shop_one',
      scopes: ['catalog:read'],
    });
    expect(named.statusCode).toBe(201);
  });

  it.each([
    [
      { name: 'reader', client: 'admin' },
      'admin is reserved for the bootstrap admin key: give another client',
    ],
    [
      { name: 'reader', client: 'ADMIN' },
      'ADMIN is reserved for the bootstrap admin key: give another client',
    ],
    [
      { name: 'admin' },
      'the client defaults to the name, and admin is reserved for the bootstrap admin key: give another client',
    ],
  ])(
    'when a key would act for the bootstrap client (%j), then 400 and no key is made',
    async (given, detail) => {
      const response = await postJson(t().app, '/ApiKeys', { ...given, scopes: ['recharges:read'] });
      expectProblem(response, 400, {
        code: 'invalid_request',
        detail,
        errors: [{ path: '/client', message: 'must not be admin' }],
      });
      expect((await t().app.inject({ url: '/ApiKeys' })).json()).toEqual([]);
    },
  );

  it('when DELETE has no id, then 400 naming /id', async () => {
    const response = await t().app.inject({ method: 'DELETE', url: '/ApiKeys' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'invalid_request',
      errors: [{ path: '/id', message: 'is required' }],
    });
  });

  it('when a key is created, then no table of the database holds the key or its secret, only its SHA-256', async () => {
    const created = await createKey(t().app, { name: 'stored', scopes: ['admin'] });
    await t().app.inject({ url: '/ApiKeys', headers: created.headers });
    await t().app.inject({ method: 'DELETE', url: `/ApiKeys?id=${created.id}`, headers: created.headers });
    const secret = created.key.slice(`rk_${created.id}_`.length);
    const dump = await dumpDatabase(t());
    expect(dump).toContain(created.id);
    // The dump does show bytea, so the hash is found where the key would be if it were stored.
    expect(dump).toContain(createHash('sha256').update(created.key).digest('hex'));
    for (const secretForm of [created.key, secret, Buffer.from(secret, 'base64url').toString('hex')])
      expect(dump).not.toContain(secretForm);
  });

  it('when a key was used once, then it is authenticated from memory: it works with the key table gone', async () => {
    const used = await createKey(t().app, { name: 'used', scopes: ['catalog:read'] });
    const fresh = await createKey(t().app, { name: 'fresh', scopes: ['catalog:read'] });
    expect((await t().app.inject({ url: '/CompanyProducts', headers: used.headers })).statusCode).toBe(200);
    await sql`alter table api_keys rename to api_keys_gone`.execute(t().database.db);
    try {
      const cached = await t().app.inject({ url: '/CompanyProducts', headers: used.headers });
      expect(cached.statusCode).toBe(200);
      // A key never seen needs the table: the look-up fails, so the database was asked.
      const unseen = await t().app.inject({ url: '/CompanyProducts', headers: fresh.headers });
      expect(unseen.json()).toMatchObject({ status: 500, code: 'internal_error' });
    } finally {
      await sql`alter table api_keys_gone rename to api_keys`.execute(t().database.db);
    }
    expect((await t().app.inject({ url: '/CompanyProducts', headers: fresh.headers })).statusCode).toBe(200);
  });
});

// Needs a Redis server (CI sets TEST_REDIS_URL); without one, the single-instance case above covers revocation.
const redisTargets = process.env.TEST_REDIS_URL ? [process.env.TEST_REDIS_URL] : [];

describe.each(redisTargets)('revocation across two instances sharing Redis %s', (redisUrl) => {
  describe.each(databaseTargets)('and a %s database', (target) => {
    // A owns the database; B is a second instance on it.
    let a: TestApp;
    let b: TestApp;
    beforeAll(async () => {
      const env = { REDIS_URL: redisUrl, REDIS_PREFIX: `test-${randomBytes(6).toString('hex')}:` };
      a = await createTestApp(target, env);
      b = await createTestApp(a.database, env);
    });
    afterAll(async () => {
      await b?.close();
      await a?.close();
    });

    it('when a key cached on B is revoked on A, then B refuses it on the very next request', async () => {
      const created = await createKey(a.app, { name: 'roaming', scopes: ['catalog:read'] });
      expect((await b.app.inject({ url: '/CompanyProducts', headers: created.headers })).statusCode).toBe(
        200,
      );

      const deleted = await a.app.inject({ method: 'DELETE', url: `/ApiKeys?id=${created.id}` });
      expect(deleted.statusCode).toBe(204);

      const onB = await b.app.inject({ url: '/CompanyProducts', headers: created.headers });
      expectProblem(onB, 401, UNAUTHENTICATED);
      expect((await a.app.inject({ url: '/CompanyProducts', headers: created.headers })).statusCode).toBe(
        401,
      );
      const logged = JSON.stringify([...a.logs(), ...b.logs()]);
      expect(logged).not.toContain(created.key);
      expect(logged).not.toContain(TEST_ADMIN_KEY);
    });
  });
});

/** Every row of every table, as JSON, with bytea also as hex, base64 and text. */
async function dumpDatabase(t: TestApp): Promise<string> {
  const { rows: tables } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(t.database.db);
  expect(tables.map(({ table_name }) => table_name)).toEqual(
    expect.arrayContaining(['api_keys', 'audit_events', 'companies', 'products', 'recharges']),
  );
  const parts: string[] = [];
  for (const { table_name } of tables) {
    const { rows } = await sql`select * from ${sql.table(table_name)}`.execute(t.database.db);
    parts.push(
      JSON.stringify(rows, function (this: Record<string, unknown>, name, value) {
        const raw = this[name];
        if (!(raw instanceof Uint8Array)) return value;
        const bytes = Buffer.from(raw);
        return [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('latin1')];
      }),
    );
  }
  return parts.join('\n');
}

describe('the bootstrap admin key', () => {
  it('when ADMIN_API_KEY is unset outside production, then a key is printed once, outside the JSON logs, and is admin', async () => {
    const server = await startServerProcess({ ADMIN_API_KEY: '', NODE_ENV: 'development' });
    try {
      const keys = server.output().match(/rk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g) ?? [];
      expect(keys).toHaveLength(1);
      const key = keys[0] as string;
      const line =
        server
          .output()
          .split('\n')
          .find((text) => text.includes(key)) ?? '';
      expect(line.trim()).toBe(key);
      expect(server.output()).toContain('recharge-api: ADMIN_API_KEY is not set');

      const listed = await fetch(`http://127.0.0.1:${server.port}/ApiKeys`, { headers: bearer(key) });
      expect(listed.status).toBe(200);
      expect(await listed.json()).toEqual([]);
      // Used, it is still nowhere in the logs.
      expect(server.output().split(key)).toHaveLength(2);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('when ADMIN_API_KEY is unset in production, then no key is made or printed', async () => {
    const server = await startServerProcess({ ADMIN_API_KEY: '', NODE_ENV: 'production' });
    try {
      expect(server.output()).not.toMatch(/rk_/);
      const listed = await fetch(`http://127.0.0.1:${server.port}/ApiKeys`);
      expect(listed.status).toBe(401);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('when ADMIN_API_KEY is shorter than 32 characters, then the process exits non-zero naming it', async () => {
    const failure = startServerProcess({ ADMIN_API_KEY: 'too-short-admin-key-31-chars-xx' });
    await expect(failure).rejects.toThrow(/server exited with [1-9]\d* before listening/);
    await expect(failure).rejects.toThrow(/invalid environment variable ADMIN_API_KEY/);
    await expect(failure).rejects.not.toThrow(/too-short-admin-key/);
  });
});
