import { describe, expect, it } from 'vitest';
import { claro, createTestApp, postJson, putJson, tim } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

describe.each(databaseTargets)('catalog on %s', (target) => {
  const t = useTestApp(target, { clearCatalog: true });

  it('serves one catalog by company_id, and every catalog in company_id order', async () => {
    expect((await postJson(t().app, '/CompanyProducts', tim)).statusCode).toBe(201);
    expect((await postJson(t().app, '/CompanyProducts', claro)).statusCode).toBe(201);

    const one = await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual(claro);

    const all = await t().app.inject({ method: 'GET', url: '/CompanyProducts' });
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual([claro, tim]);
  });

  it('reads send, byte for byte, the JSON that the schema serializer sends for a write', async () => {
    // Reads send a cached string (catalog.routes.ts); writes go through the Catalog schema's serializer.
    const created = [
      await postJson(t().app, '/CompanyProducts', tim),
      await postJson(t().app, '/CompanyProducts', claro),
    ];
    const [timBody, claroBody] = created.map((response) => response.body);
    for (let read = 0; read < 2; read++) {
      const one = await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' });
      expect(one.body).toBe(claroBody);
      expect(one.headers['content-type']).toBe(created[1]?.headers['content-type']);
      const all = await t().app.inject({ method: 'GET', url: '/CompanyProducts' });
      expect(all.body).toBe(`[${claroBody},${timBody}]`);
    }
    const changed = { ...claro, products: [{ id: 'claro_99', value: 99.5 }] };
    const replaced = await putJson(t().app, '/CompanyProducts?company_id=claro_11', changed);
    const after = await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' });
    expect(after.body).toBe(replaced.body);
    expect(after.json()).toEqual(changed);
  });

  it('when a catalog is created, then 201 with Location, ETag and the stored catalog', async () => {
    const response = await postJson(t().app, '/CompanyProducts', claro);
    expect(response.statusCode).toBe(201);
    expect(response.headers.location).toBe('/CompanyProducts?company_id=claro_11');
    expect(response.headers.etag).toMatch(/^"[\w-]+"$/);
    expect(response.json()).toEqual(claro);
  });

  it('when the company already exists, then 409 conflict and the first catalog is kept', async () => {
    await postJson(t().app, '/CompanyProducts', claro);
    const response = await postJson(t().app, '/CompanyProducts', { company_id: 'claro_11', products: [] });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      status: 409,
      code: 'conflict',
      detail: 'company claro_11 already exists',
    });
    const stored = await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' });
    expect(stored.json()).toEqual(claro);
  });

  it('when a company is unknown, then GET, PUT and DELETE answer a 404 problem', async () => {
    const get = await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=vivo_11' });
    const put = await putJson(t().app, '/CompanyProducts?company_id=vivo_11', {
      company_id: 'vivo_11',
      products: [],
    });
    const del = await t().app.inject({ method: 'DELETE', url: '/CompanyProducts?company_id=vivo_11' });
    for (const response of [get, put, del]) {
      expectProblem(response, 404, { code: 'not_found', detail: 'company vivo_11 does not exist' });
    }
  });

  it('orders products by value then id, and companies by code point', async () => {
    await postJson(t().app, '/CompanyProducts', {
      company_id: 'b',
      products: [
        { id: 'z', value: 5 },
        { id: 'b', value: 10.5 },
        { id: 'a', value: 10.5 },
        { id: 'B', value: 10.5 },
      ],
    });
    await postJson(t().app, '/CompanyProducts', { company_id: 'a', products: [] });
    await postJson(t().app, '/CompanyProducts', { company_id: 'Z', products: [] });
    const response = await t().app.inject({ method: 'GET', url: '/CompanyProducts' });
    expect(response.json()).toEqual([
      { company_id: 'Z', products: [] },
      { company_id: 'a', products: [] },
      {
        company_id: 'b',
        products: [
          { id: 'z', value: 5 },
          { id: 'B', value: 10.5 },
          { id: 'a', value: 10.5 },
          { id: 'b', value: 10.5 },
        ],
      },
    ]);
  });

  it('when a catalog repeats a product id, then 400 naming the duplicate and nothing is stored', async () => {
    const response = await postJson(t().app, '/CompanyProducts', {
      company_id: 'claro_11',
      products: [
        { id: 'claro_10', value: 10 },
        { id: 'claro_10', value: 12 },
      ],
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'invalid_request',
      errors: [{ path: '/products/1/id', message: 'duplicates /products/0/id' }],
    });
    expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
  });

  it('when a value has more digits than a number holds, then 400, not the value rounded to fit', async () => {
    for (const value of ['0.009999999999999999999', '10000.0000000000001', '10.100000000000000001']) {
      const response = await postJson(
        t().app,
        '/CompanyProducts',
        `{"company_id":"claro_11","products":[{"id":"claro_10","value":${value}}]}`,
      );
      expect(response.statusCode).toBe(400);
      expect(response.json().errors).toEqual([
        { path: '/products/0/value', message: 'has more significant digits than can be held exactly (15)' },
      ]);
    }
    expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([]);
  });

  it('when a catalog repeats a product id and breaks another rule, then 400 lists both', async () => {
    const response = await postJson(t().app, '/CompanyProducts', {
      company_id: 'claro_11',
      products: [
        { id: 'claro_10', value: 10.005 },
        { id: 'claro_10', value: 12 },
      ],
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([
      { path: '/products/0/value', message: expect.any(String) },
      { path: '/products/1/id', message: 'duplicates /products/0/id' },
    ]);
  });

  it('when a catalog breaks the rules, then 400 lists every bad field', async () => {
    const response = await postJson(t().app, '/CompanyProducts', {
      company_id: 'bad id!',
      products: [{ id: '', value: 10.005 }, { value: -1 }, { id: 'x', value: '10', extra: true }],
      more: 1,
    });
    expect(response.statusCode).toBe(400);
    const paths = [
      ...new Set((response.json().errors as { path: string }[]).map((error) => error.path)),
    ].sort();
    expect(paths).toEqual(
      [
        '/more',
        '/company_id',
        '/products/0/id',
        '/products/0/value',
        '/products/1/id',
        '/products/1/value',
        '/products/2/extra',
        '/products/2/value',
      ].sort(),
    );
  });

  it('replaces the product list with PUT, with or without the query', async () => {
    await postJson(t().app, '/CompanyProducts', claro);
    const replaced = { company_id: 'claro_11', products: [{ id: 'claro_15', value: 15 }] };
    const withQuery = await putJson(t().app, '/CompanyProducts?company_id=claro_11', replaced);
    expect(withQuery.statusCode).toBe(200);
    expect(withQuery.json()).toEqual(replaced);

    const again = {
      company_id: 'claro_11',
      products: [
        { id: 'claro_15', value: 16 },
        { id: 'claro_5', value: 5 },
      ],
    };
    const withoutQuery = await putJson(t().app, '/CompanyProducts', again);
    expect(withoutQuery.statusCode).toBe(200);
    const stored = await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' });
    expect(stored.json()).toEqual({
      company_id: 'claro_11',
      products: [again.products[1], again.products[0]],
    });
  });

  it('when the query and the body name different companies, then 400 and nothing changes', async () => {
    await postJson(t().app, '/CompanyProducts', claro);
    const response = await putJson(t().app, '/CompanyProducts?company_id=claro_11', { ...tim });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'invalid_request',
      errors: [{ path: '/company_id', message: "must equal the query's company_id claro_11" }],
    });
    expect((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).json()).toEqual([claro]);
  });

  it('deletes a catalog, answering the deleted catalog, and lets the company be created again', async () => {
    await postJson(t().app, '/CompanyProducts', claro);
    const deleted = await t().app.inject({ method: 'DELETE', url: '/CompanyProducts?company_id=claro_11' });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual(claro);
    expect(
      (await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' })).statusCode,
    ).toBe(404);
    expect((await postJson(t().app, '/CompanyProducts', claro)).statusCode).toBe(201);
  });

  it('when DELETE has no company_id, then 400', async () => {
    const response = await t().app.inject({ method: 'DELETE', url: '/CompanyProducts' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'invalid_request',
      errors: [{ path: '/company_id', message: 'is required' }],
    });
  });

  it('answers 304 to a current If-None-Match and 200 with a new ETag after a change', async () => {
    await postJson(t().app, '/CompanyProducts', claro);
    for (const url of ['/CompanyProducts', '/CompanyProducts?company_id=claro_11']) {
      const first = await t().app.inject({ method: 'GET', url });
      const etag = String(first.headers.etag);
      const cached = await t().app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
      expect(cached.statusCode).toBe(304);
      expect(cached.body).toBe('');
      const weak = await t().app.inject({
        method: 'GET',
        url,
        headers: { 'if-none-match': `"other", W/${etag}` },
      });
      expect(weak.statusCode).toBe(304);
    }
    const before = String((await t().app.inject({ method: 'GET', url: '/CompanyProducts' })).headers.etag);
    await putJson(t().app, '/CompanyProducts', { company_id: 'claro_11', products: [] });
    const after = await t().app.inject({
      method: 'GET',
      url: '/CompanyProducts',
      headers: { 'if-none-match': before },
    });
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(before);
  });

  it('when many cached reads arrive together, then each gets its own catalog, ETag, status and request id', async () => {
    // Cached reads are answered together at the end of the event loop's turn (end-of-turn.ts).
    await postJson(t().app, '/CompanyProducts', claro);
    await postJson(t().app, '/CompanyProducts', tim);
    const urls = [
      '/CompanyProducts',
      '/CompanyProducts?company_id=claro_11',
      '/CompanyProducts?company_id=tim_11',
    ];
    const expected = [[claro, tim], claro, tim];
    const etags = await Promise.all(
      urls.map(async (url) => String((await t().app.inject({ method: 'GET', url })).headers.etag)),
    );
    const reads = Array.from({ length: 30 }, (_, index) => ({
      index,
      which: index % urls.length,
      // Every other read of a kind already holds the current ETag.
      isCurrent: Math.floor(index / urls.length) % 2 === 1,
    }));
    const responses = await Promise.all(
      reads.map(({ index, which, isCurrent }) =>
        t().app.inject({
          method: 'GET',
          url: urls[which] as string,
          headers: {
            'x-request-id': `burst-${index}`,
            'if-none-match': isCurrent ? (etags[which] as string) : '"stale"',
          },
        }),
      ),
    );
    for (const [position, { index, which, isCurrent }] of reads.entries()) {
      const response = responses[position];
      expect(response?.headers['x-request-id']).toBe(`burst-${index}`);
      expect(response?.headers.etag).toBe(etags[which]);
      if (isCurrent) {
        expect(response?.statusCode).toBe(304);
        expect(response?.body).toBe('');
      } else {
        expect(response?.statusCode).toBe(200);
        expect(response?.json()).toEqual(expected[which]);
      }
    }
  });

  it('when If-Match is stale, then PUT and DELETE answer 412 and change nothing', async () => {
    const created = await postJson(t().app, '/CompanyProducts', claro);
    const etag = String(created.headers.etag);
    const stale = '"stale"';
    const put = await putJson(
      t().app,
      '/CompanyProducts',
      { company_id: 'claro_11', products: [] },
      { 'if-match': stale },
    );
    expect(put.statusCode).toBe(412);
    expect(put.json()).toMatchObject({ code: 'precondition_failed' });
    const weak = await t().app.inject({
      method: 'DELETE',
      url: '/CompanyProducts?company_id=claro_11',
      headers: { 'if-match': `W/${etag}` },
    });
    expect(weak.statusCode).toBe(412);
    expect(
      (await t().app.inject({ method: 'GET', url: '/CompanyProducts?company_id=claro_11' })).json(),
    ).toEqual(claro);

    const current = await putJson(
      t().app,
      '/CompanyProducts',
      { company_id: 'claro_11', products: [] },
      { 'if-match': etag },
    );
    expect(current.statusCode).toBe(200);
    const any = await t().app.inject({
      method: 'DELETE',
      url: '/CompanyProducts?company_id=claro_11',
      headers: { 'if-match': '*' },
    });
    expect(any.statusCode).toBe(200);
  });

  it('answers 405 with Allow for methods the path does not serve', async () => {
    for (const method of ['PATCH', 'OPTIONS'] as const) {
      const response = await t().app.inject({ method, url: '/CompanyProducts' });
      expect(response.statusCode).toBe(405);
      expect(response.headers.allow).toBe('GET, HEAD, POST, PUT, DELETE');
      expect(response.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
    }
  });

  it('tolerates a trailing slash and answers HEAD like GET without a body', async () => {
    await postJson(t().app, '/CompanyProducts/', claro);
    const slash = await t().app.inject({ method: 'GET', url: '/CompanyProducts/?company_id=claro_11' });
    expect(slash.json()).toEqual(claro);
    const head = await t().app.inject({ method: 'HEAD', url: '/CompanyProducts' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers.etag).toBeDefined();
  });
});

describe('405 before anything else', () => {
  it('when a method is refused, then 405 comes before the body is read (no 400, 413 or 415), for any method', async () => {
    const t = await createTestApp('pglite', { BODY_LIMIT: '2048' });
    try {
      const refusals = await Promise.all([
        t.app.inject({
          method: 'PATCH',
          url: '/CompanyProducts',
          headers: { 'content-type': 'text/plain' },
          payload: 'x',
        }),
        t.app.inject({
          method: 'PUT',
          url: '/PhoneRecharges',
          headers: { 'content-type': 'application/json' },
          payload: '{',
        }),
        t.app.inject({
          method: 'PATCH',
          url: '/CompanyProducts',
          payload: 'x'.repeat(5000),
          headers: { authorization: undefined },
        }),
        t.app.inject({ method: 'PROPFIND' as 'GET', url: '/PhoneRecharges/' }),
      ]);
      for (const response of refusals) {
        expect(response.statusCode).toBe(405);
        expect(response.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
      }
      expect(refusals.map((response) => response.headers.allow)).toEqual([
        'GET, HEAD, POST, PUT, DELETE',
        'GET, HEAD, POST',
        'GET, HEAD, POST, PUT, DELETE',
        'GET, HEAD, POST',
      ]);
    } finally {
      await t.close();
    }
  });
});
