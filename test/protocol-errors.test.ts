import { connect } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';
const BAD_PATH = 'the path is not a valid URL path: each % must start a percent-encoded UTF-8 character';
const SECRET = 'rk_0123456789abcdef_not-a-real-secret-but-never-to-be-logged';

/** The whole problem an injected response carries, with the headers every API answer has. */
function expectApiProblem(response: LightMyRequestResponse, status: number, code: string, detail: string) {
  expectProblem(response, status, { code, detail });
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['x-content-type-options']).toBe('nosniff');
}

describe('errors Fastify raises before routing', () => {
  const t = useTestApp('pglite');

  it.each(['/PhoneRecharges%ff', '/%', `/PhoneRecharges%ff?api_key=${SECRET}`])(
    'when the path %s is not valid percent-encoding, then 400 invalid_request as problem details, logged once',
    async (url) => {
      const requestId = `bad-url-${url.length}`;
      const response = await t().app.inject({ url, headers: { 'x-request-id': requestId } });
      expectApiProblem(response, 400, 'invalid_request', BAD_PATH);
      expect(response.headers['x-request-id']).toBe(requestId);
      const lines = t()
        .logs()
        .filter((line) => line.request_id === requestId);
      expect(lines).toEqual([
        expect.objectContaining({
          msg: 'request completed',
          code: 'FST_ERR_BAD_URL',
          res: { statusCode: 400 },
        }),
      ]);
      expect(JSON.stringify(t().logs())).not.toContain(SECRET);
    },
  );

  it.each([
    ['/PhoneRecharges?%ff', '/%ff'],
    ['/PhoneRecharges?phone_number=%', '/phone_number'],
    ['/PhoneRecharges?phone_number=%ff%fe', '/phone_number'],
  ])('when the query string %s is malformed, then the usual 400 naming the parameter', async (url, path) => {
    const response = await t().app.inject({ url });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe(PROBLEM_TYPE);
    expect(response.json()).toMatchObject({
      code: 'invalid_request',
      detail: 'the query string is invalid',
      errors: [expect.objectContaining({ path })],
    });
  });
});

describe('errors Fastify raises while matching a route', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp('pglite', {}, { beforeReady: addRoutes });
  });
  afterAll(() => t?.close());

  /** A path parameter (the API has none today) and a route constraint derived asynchronously that fails. */
  function addRoutes(app: FastifyInstance) {
    app.get('/things/:id', { config: { public: true } }, async () => ({}));
    app.addConstraintStrategy({
      name: 'tenant',
      storage: () => {
        const stored = new Map<string, unknown>();
        return {
          get: (value: string) => stored.get(value) ?? null,
          set: (value: string, store: unknown) => void stored.set(value, store),
        };
      },
      // Derived for every request once registered: it fails for /tenants only.
      deriveConstraint: (
        request: { url: string },
        _context: unknown,
        done: (error: Error | null, value: string) => void,
      ) =>
        request.url.startsWith('/tenants') ? done(new Error('the tenant store is down'), '') : done(null, ''),
      mustMatchWhenDerived: false,
      // find-my-way's types know only the synchronous form, without `done`.
    } as unknown as Parameters<FastifyInstance['addConstraintStrategy']>[0]);
    app.get('/tenants', { config: { public: true }, constraints: { tenant: 'a' } }, async () => ({}));
  }

  it('when a path parameter is over 100 characters, then 400 invalid_request as problem details', async () => {
    const response = await t.app.inject({ url: `/things/${'a'.repeat(101)}` });
    expectApiProblem(response, 400, 'invalid_request', 'a part of the path is longer than 100 characters');
  });

  it('when a route constraint fails to derive, then a bare 500 internal_error, logged as an error', async () => {
    const response = await t.app.inject({ url: '/tenants', headers: { 'x-request-id': 'constraint-1' } });
    expectApiProblem(response, 500, 'internal_error', 'an unexpected error occurred');
    expect(t.logs()).toContainEqual(
      expect.objectContaining({
        level: 50,
        request_id: 'constraint-1',
        msg: 'unexpected error',
        err: expect.objectContaining({ code: 'FST_ERR_ASYNC_CONSTRAINT' }),
      }),
    );
  });
});

type RawResponse = { status: number; headers: Record<string, string>; body: string };

/** Writes `bytes` on a new connection and reads everything the server sends until it closes it. */
function exchange(port: number, bytes: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [
          line.slice(0, line.indexOf(':')).toLowerCase(),
          line.slice(line.indexOf(':') + 2),
        ]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.write(bytes);
  });
}

describe('requests Node’s HTTP parser refuses, over a real socket', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp('pglite');
    // Short enough to see a request time out; Node checks for expired requests at this interval.
    t.app.server.requestTimeout = 300;
    t.app.server.headersTimeout = 300;
    (t.app.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = 100;
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as { port: number }).port;
  });
  afterAll(() => t.close());

  const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
  const bearer = `Authorization: Bearer ${SECRET}`;

  it.each([
    ['a malformed request line', head(['GARBAGE']), 400, /^the request line is malformed/],
    ['a space in the path', head(['GET /a b HTTP/1.1', 'Host: x', bearer]), 400, /^the request line/],
    [
      'a header name with a space',
      head(['GET /healthz HTTP/1.1', 'Host: x', bearer, 'Bad Name: 1']),
      400,
      /^a header is malformed/,
    ],
    [
      'a control character in a header value',
      head(['GET /healthz HTTP/1.1', 'Host: x', 'X-A: a\u0001b', bearer]),
      400,
      /^a header is malformed/,
    ],
    [
      'a Content-Length that is not a number',
      head(['POST /CompanyProducts HTTP/1.1', 'Host: x', bearer, 'Content-Length: ten']),
      400,
      /^Content-Length must be one decimal number/,
    ],
    [
      'two Content-Lengths',
      head(['POST /CompanyProducts HTTP/1.1', 'Host: x', 'Content-Length: 1', 'Content-Length: 2']),
      400,
      /^Content-Length must be one decimal number/,
    ],
    [
      'Content-Length with chunked',
      head(['POST /CompanyProducts HTTP/1.1', 'Host: x', 'Content-Length: 2', 'Transfer-Encoding: chunked']),
      400,
      /^Transfer-Encoding must end with chunked/,
    ],
    [
      'a malformed chunk',
      `${head(['POST /CompanyProducts HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'])}zz\r\n{}\r\n0\r\n\r\n`,
      400,
      /^the chunked body is malformed/,
    ],
    [
      'headers over 16 KiB',
      head(['GET /healthz HTTP/1.1', 'Host: x', bearer, `X-Big: ${'a'.repeat(20_000)}`]),
      431,
      /^the request's headers are over \d+ bytes/,
    ],
    [
      'a head that never ends',
      'GET /healthz HTTP/1.1\r\nHost: x\r\n',
      408,
      /^the request did not arrive in full in time/,
    ],
  ] as const)(
    'when %s, then its status as problem details with a request id, and the connection closed',
    async (_name, bytes, status, detail) => {
      const response = await exchange(port, bytes);
      expect(response.status).toBe(status);
      expect(response.headers).toMatchObject({
        'content-type': PROBLEM_TYPE,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        connection: 'close',
        'content-length': String(Buffer.byteLength(response.body)),
      });
      const problem = JSON.parse(response.body);
      expect(problem).toEqual({
        type: 'about:blank',
        title: expect.any(String),
        status,
        code: 'invalid_request',
        detail: expect.stringMatching(detail),
        request_id: response.headers['x-request-id'],
      });
      expect(t.logs()).toContainEqual(
        expect.objectContaining({
          msg: 'request refused by the HTTP parser',
          request_id: problem.request_id,
          code: expect.stringMatching(/^(HPE_|ERR_HTTP_REQUEST_TIMEOUT)/),
        }),
      );
      expect(JSON.stringify(t.logs())).not.toContain(SECRET);
    },
  );

  it('when a well-formed request follows, then it is served as usual', async () => {
    const response = await exchange(port, head(['GET /healthz HTTP/1.1', 'Host: x', 'Connection: close']));
    expect(response.status).toBe(200);
    expect(response.body).toBe('{"status":"ok"}');
  });

  // What README says Node answers itself, before any code of ours runs: these are not problem details.
  it('when HTTP/1.1 comes without Host, then Node itself answers a bare 400 before the app sees it', async () => {
    const response = await exchange(port, head(['GET /healthz HTTP/1.1']));
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBeUndefined();
  });

  it('when Expect is not 100-continue, then Node itself answers 417', async () => {
    const response = await exchange(
      port,
      head(['GET /healthz HTTP/1.1', 'Host: x', 'Expect: x', 'Connection: close']),
    );
    expect(response.status).toBe(417);
    expect(response.headers['content-type']).toBeUndefined();
  });

  it('when the method is CONNECT, then Node closes the connection without an answer', async () => {
    const response = await exchange(
      port,
      head(['CONNECT example.com:443 HTTP/1.1', 'Host: example.com:443']),
    );
    expect(response).toEqual({ status: Number.NaN, headers: {}, body: '' });
  });
});
