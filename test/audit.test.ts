import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { claro, createKey, postJson, putJson, type TestKey } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

type AuditEvent = { id: string; action: string; target: string; before: unknown; after: unknown };

const ISO_MILLIS = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
const claroInCents = {
  company_id: 'claro_11',
  products: [
    { id: 'claro_10', value_cents: 1000 },
    { id: 'claro_20', value_cents: 2000 },
  ],
};

describe.each(databaseTargets)('the audit trail on %s', (target) => {
  const t = useTestApp(target);
  let operator: TestKey;
  beforeAll(async () => {
    operator = await createKey(t().app, { name: 'ops console', client: 'ops', scopes: ['catalog:write'] });
  });

  /** The events appended by `act`, oldest first. */
  async function eventsDuring(act: () => Promise<unknown>): Promise<AuditEvent[]> {
    const before = await t().app.inject({ url: '/AuditEvents?limit=1' });
    const newestBefore = BigInt((before.json() as AuditEvent[])[0]?.id ?? '0');
    await act();
    const after = (await t().app.inject({ url: '/AuditEvents?limit=500' })).json() as AuditEvent[];
    return after.filter((event) => BigInt(event.id) > newestBefore).reverse();
  }

  it('when a catalog is created, replaced and deleted, then one event each with the caller and cents', async () => {
    const asOperator = operator.headers;
    const replaced = { company_id: 'claro_11', products: [{ id: 'claro_15', value: 15.5 }] };
    const events = await eventsDuring(async () => {
      expect((await postJson(t().app, '/CompanyProducts', claro, asOperator)).statusCode).toBe(201);
      expect(
        (await putJson(t().app, '/CompanyProducts?company_id=claro_11', replaced, asOperator)).statusCode,
      ).toBe(200);
      const deleted = await t().app.inject({
        method: 'DELETE',
        url: '/CompanyProducts?company_id=claro_11',
        headers: asOperator,
      });
      expect(deleted.statusCode).toBe(200);
    });
    const by = {
      occurred_at: ISO_MILLIS,
      actor_key_id: operator.id,
      actor_client: 'ops',
      target: 'claro_11',
    };
    const replacedInCents = { company_id: 'claro_11', products: [{ id: 'claro_15', value_cents: 1550 }] };
    expect(events).toEqual([
      {
        id: expect.stringMatching(/^\d+$/),
        ...by,
        action: 'catalog.create',
        before: null,
        after: claroInCents,
      },
      {
        id: expect.any(String),
        ...by,
        action: 'catalog.replace',
        before: claroInCents,
        after: replacedInCents,
      },
      { id: expect.any(String), ...by, action: 'catalog.delete', before: replacedInCents, after: null },
    ]);
  });

  it('when a key is created and revoked, then one event each, without the key or its hash', async () => {
    let created: TestKey | undefined;
    const keyAdmin = await createKey(t().app, { name: 'key-admin', client: 'security', scopes: ['admin'] });
    const events = await eventsDuring(async () => {
      created = await createKey(t().app, { name: 'till', client: 'shop', scopes: ['recharges:write'] });
      const revoked = await t().app.inject({
        method: 'DELETE',
        url: `/ApiKeys?id=${created.id}`,
        headers: keyAdmin.headers,
      });
      expect(revoked.statusCode).toBe(204);
    });
    const { key, headers: _headers, ...record } = created as TestKey;
    expect(events).toEqual([
      {
        id: expect.any(String),
        occurred_at: ISO_MILLIS,
        actor_key_id: 'bootstrap',
        actor_client: 'admin',
        action: 'api_key.create',
        target: record.id,
        before: null,
        after: record,
      },
      {
        id: expect.any(String),
        occurred_at: ISO_MILLIS,
        actor_key_id: keyAdmin.id,
        actor_client: 'security',
        action: 'api_key.revoke',
        target: record.id,
        before: record,
        after: null,
      },
    ]);
    const hash = createHash('sha256').update(key).digest();
    for (const secret of [key, key.slice(20), hash.toString('hex'), hash.toString('base64')])
      expect(JSON.stringify(events)).not.toContain(secret);
  });

  it('when a write is refused (400, 404, 409, 412), then nothing is recorded', async () => {
    const asOperator = operator.headers;
    await postJson(t().app, '/CompanyProducts', { company_id: 'tim_11', products: [] }, asOperator);
    const events = await eventsDuring(async () => {
      const refusals = [
        await postJson(t().app, '/CompanyProducts', { company_id: 'tim_11', products: [] }, asOperator),
        await putJson(
          t().app,
          '/CompanyProducts?company_id=tim_11',
          { company_id: 'tim_11', products: [] },
          {
            ...asOperator,
            'if-match': '"stale"',
          },
        ),
        await t().app.inject({
          method: 'DELETE',
          url: '/CompanyProducts?company_id=tim_11',
          headers: { ...asOperator, 'if-match': '"stale"' },
        }),
        await t().app.inject({
          method: 'DELETE',
          url: '/CompanyProducts?company_id=nope',
          headers: asOperator,
        }),
        await putJson(
          t().app,
          '/CompanyProducts?company_id=nope',
          { company_id: 'nope', products: [] },
          asOperator,
        ),
        await postJson(t().app, '/CompanyProducts', { company_id: 'bad id!', products: [] }, asOperator),
        await t().app.inject({ method: 'DELETE', url: '/ApiKeys?id=0123456789abcdef' }),
        await postJson(t().app, '/ApiKeys', { name: 'x', scopes: [] }),
      ];
      expect(refusals.map((response) => response.statusCode)).toEqual([
        409, 412, 412, 404, 404, 400, 404, 400,
      ]);
    });
    expect(events).toEqual([]);
  });

  it('when the trail is read in pages, then newest first, with Link next, and the cursor walks every event once', async () => {
    for (const company of ['a', 'b', 'c', 'd', 'e'])
      await postJson(t().app, '/CompanyProducts', { company_id: company, products: [] }, operator.headers);
    const all = (await t().app.inject({ url: '/AuditEvents?limit=500' })).json() as AuditEvent[];
    const ids = all.map((event) => BigInt(event.id));
    expect(ids).toEqual([...ids].sort((x, y) => (x > y ? -1 : x < y ? 1 : 0)));
    expect(new Set(ids).size).toBe(ids.length);
    expect(all.slice(0, 5).map((event) => event.target)).toEqual(['e', 'd', 'c', 'b', 'a']);

    const walked: AuditEvent[] = [];
    let url: string | undefined = '/AuditEvents?limit=2';
    while (url) {
      const page = await t().app.inject({ url });
      expect(page.statusCode).toBe(200);
      const events = page.json() as AuditEvent[];
      walked.push(...events);
      const link = page.headers.link as string | undefined;
      if (link) expect(link).toBe(`</AuditEvents?limit=2&cursor=${events.at(-1)?.id}>; rel="next"`);
      else expect(walked).toHaveLength(all.length);
      url = link?.match(/^<([^>]+)>; rel="next"$/)?.[1];
    }
    expect(walked).toEqual(all);
  });

  it.each([
    ['limit=0', '/limit'],
    ['limit=501', '/limit'],
    ['limit=ten', '/limit'],
    ['cursor=abc', '/cursor'],
    ['cursor=9999999999999999999', '/cursor'],
    ['page=2', '/page'],
  ])('when the query is %s, then 400 naming %s', async (query, path) => {
    const response = await t().app.inject({ url: `/AuditEvents?${query}` });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      status: 400,
      code: 'invalid_request',
      errors: [{ path, message: expect.any(String) }],
    });
  });

  it('when a key without admin reads the trail, then 403', async () => {
    const response = await t().app.inject({ url: '/AuditEvents', headers: operator.headers });
    expectProblem(response, 403, { code: 'forbidden', detail: 'this API key lacks the admin scope' });
  });

  it('when SQL tries to update, delete or truncate events, then the database refuses and they stay', async () => {
    await postJson(t().app, '/CompanyProducts', { company_id: 'kept', products: [] }, operator.headers);
    const before = (await t().app.inject({ url: '/AuditEvents?limit=500' })).json();
    const { db } = t().database;
    await expect(sql`update audit_events set action = 'x'`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_events`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`truncate audit_events`.execute(db)).rejects.toThrow(/append-only/);
    expect((await t().app.inject({ url: '/AuditEvents?limit=500' })).json()).toEqual(before);
  });
});
