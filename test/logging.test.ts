import type { Response } from 'light-my-request';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import {
  gcpLoggerOptions,
  LazyChildLogger,
  loggingOptions,
  parseTraceContext,
  traceFields,
} from '../src/logging.js';
import { captureLogs, createKey, createTestApp, TEST_ADMIN_KEY } from './helpers/app.js';
import { useTestApp } from './helpers/fixtures.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('parseTraceContext', () => {
  it('reads the W3C traceparent: trace, span and the sampled flag', () => {
    expect(parseTraceContext({ traceparent: TRACEPARENT })).toEqual({
      traceId: TRACE_ID,
      spanId: '00f067aa0ba902b7',
      isSampled: true,
    });
    expect(parseTraceContext({ traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-00` })?.isSampled).toBe(false);
  });

  it('reads X-Cloud-Trace-Context, turning its decimal span id into 16 hex digits', () => {
    expect(parseTraceContext({ 'x-cloud-trace-context': `${TRACE_ID.toUpperCase()}/1;o=1` })).toEqual({
      traceId: TRACE_ID,
      spanId: '0000000000000001',
      isSampled: true,
    });
    expect(parseTraceContext({ 'x-cloud-trace-context': `${TRACE_ID}/18446744073709551615` })).toEqual({
      traceId: TRACE_ID,
      spanId: 'ffffffffffffffff',
      isSampled: undefined,
    });
    expect(parseTraceContext({ 'x-cloud-trace-context': TRACE_ID })).toEqual({
      traceId: TRACE_ID,
      spanId: undefined,
      isSampled: undefined,
    });
    // Past 64 bits the span id is dropped; the trace still groups the lines.
    expect(parseTraceContext({ 'x-cloud-trace-context': `${TRACE_ID}/18446744073709551616;o=0` })).toEqual({
      traceId: TRACE_ID,
      spanId: undefined,
      isSampled: false,
    });
  });

  it('prefers traceparent, and falls back to X-Cloud-Trace-Context when traceparent is invalid', () => {
    const other = 'a'.repeat(32);
    expect(
      parseTraceContext({ traceparent: TRACEPARENT, 'x-cloud-trace-context': `${other}/5` })?.traceId,
    ).toBe(TRACE_ID);
    for (const invalid of [
      `ff-${TRACE_ID}-00f067aa0ba902b7-01`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`,
      'garbage',
    ]) {
      expect(
        parseTraceContext({ traceparent: invalid, 'x-cloud-trace-context': `${other}/5` })?.traceId,
      ).toBe(other);
    }
  });

  it.each([
    {},
    { traceparent: 'nope' },
    { 'x-cloud-trace-context': 'not-a-trace/1;o=1' },
    { 'x-cloud-trace-context': `${'0'.repeat(32)}/1` },
  ])('when the headers are %j, then there is no trace', (headers) => {
    expect(parseTraceContext(headers)).toBeNull();
    expect(traceFields('my-project', headers)).toEqual({});
  });
});

describe('gcpLoggerOptions', () => {
  function capture() {
    const { stream, logs } = captureLogs();
    const logger = pino({ level: 'trace', ...gcpLoggerOptions() }, stream);
    return { logger, logs };
  }

  it('names each pino level with Cloud Logging severity, writes `message` and an RFC 3339 time', async () => {
    const { logger, logs } = capture();
    logger.trace('t');
    logger.debug('d');
    logger.info({ purged: 3 }, 'i');
    logger.warn('w');
    logger.fatal('f');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = logs();
    expect(lines.map((line) => [line.severity, line.message])).toEqual([
      ['DEBUG', 't'],
      ['DEBUG', 'd'],
      ['INFO', 'i'],
      ['WARNING', 'w'],
      ['CRITICAL', 'f'],
    ]);
    expect(lines[2]).toMatchObject({ purged: 3 });
    for (const line of lines) {
      expect(line).not.toHaveProperty('level');
      expect(line).not.toHaveProperty('msg');
      expect(new Date(String(line.time)).toISOString()).toBe(line.time);
    }
  });

  it('when an error is logged, then ERROR with its stack in stack_trace, for Error Reporting', async () => {
    const { logger, logs } = capture();
    logger.error({ err: new Error('boom') }, 'unexpected error');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = logs();
    expect(lines[0]).toMatchObject({ severity: 'ERROR', message: 'unexpected error' });
    expect(String(lines[0]?.stack_trace)).toMatch(/^Error: boom\n\s+at /);
  });
});

describe('request loggers (LazyChildLogger)', () => {
  function setUp(level: string) {
    const { stream, logs } = captureLogs();
    const parent = pino({ level }, stream);
    const makeChild = vi.spyOn(parent, 'child');
    const { childLoggerFactory } = loggingOptions({ logFormat: 'json', googleCloudProject: undefined }, {});
    const request = { headers: {} } as Parameters<NonNullable<typeof childLoggerFactory>>[3];
    const make = (options = {}) =>
      childLoggerFactory?.call({} as never, parent, { request_id: 'r1' }, options, request);
    const flushed = () => new Promise((resolve) => setImmediate(resolve));
    return { logs, makeChild, make, flushed };
  }

  it('when nothing is written at an enabled level, then no pino child is made', async () => {
    const { logs, makeChild, make, flushed } = setUp('warn');
    const log = make();
    expect(log).toBeInstanceOf(LazyChildLogger);
    log?.info('not at warn');
    log?.debug('nor this');
    log?.trace('nor this');
    expect(log?.level).toBe('warn');
    await flushed();
    expect(makeChild).not.toHaveBeenCalled();
    expect(logs()).toEqual([]);
  });

  it('when a line is written at an enabled level, then it carries the bindings; one child serves them all', async () => {
    const { logs, makeChild, make, flushed } = setUp('warn');
    const log = make();
    log?.warn({ n: 1 }, 'first');
    log?.error('second');
    log?.fatal('third');
    log?.info('still not at warn');
    log?.silent('never');
    await flushed();
    expect(makeChild).toHaveBeenCalledTimes(1);
    const lines = logs();
    expect(lines.map(({ msg, request_id, level }) => ({ msg, request_id, level }))).toEqual([
      { msg: 'first', request_id: 'r1', level: 40 },
      { msg: 'second', request_id: 'r1', level: 50 },
      { msg: 'third', request_id: 'r1', level: 60 },
    ]);
    expect(lines[0]?.n).toBe(1);
  });

  it('when its level is raised or a child is asked for, then they act on a real child with the bindings', async () => {
    const { logs, make, flushed } = setUp('warn');
    const log = make();
    if (!log) throw new Error('no logger');
    log.level = 'debug';
    expect(log.level).toBe('debug');
    log.debug('now written');
    log.child({ step: 'inner' }).warn('from a child');
    await flushed();
    expect(logs().map(({ msg, request_id, step }) => ({ msg, request_id, step }))).toEqual([
      { msg: 'now written', request_id: 'r1', step: undefined },
      { msg: 'from a child', request_id: 'r1', step: 'inner' },
    ]);
  });

  it('when the parent logger cannot tell its levels, then the child is made at once', () => {
    const made: unknown[] = [];
    const parent = {
      level: 'info',
      child(bindings: unknown) {
        made.push(bindings);
        return parent;
      },
    };
    const { childLoggerFactory } = loggingOptions({ logFormat: 'json', googleCloudProject: undefined }, {});
    const log = childLoggerFactory?.call({} as never, parent as never, { request_id: 'r2' }, {}, {
      headers: {},
    } as never);
    expect(log).toBe(parent);
    expect(made).toEqual([{ request_id: 'r2' }]);
  });

  it('when a route sets a level of its own, then the child is made at once with that level', () => {
    const { makeChild, make } = setUp('warn');
    const log = make({ level: 'debug' });
    expect(log).not.toBeInstanceOf(LazyChildLogger);
    expect(makeChild).toHaveBeenCalledTimes(1);
    expect(log?.level).toBe('debug');
  });
});

describe('LOG_FORMAT in the configuration', () => {
  it.each([
    [{}, 'json'],
    [{ K_SERVICE: 'recharge-api' }, 'gcp'],
    [{ K_SERVICE: 'recharge-api', LOG_FORMAT: 'json' }, 'json'],
    [{ LOG_FORMAT: 'gcp' }, 'gcp'],
  ])('when the environment is %j, then the format is %s', (env, format) => {
    expect(loadConfig(env).logFormat).toBe(format);
  });

  it.each([
    ['LOG_FORMAT', 'xml'],
    ['GOOGLE_CLOUD_PROJECT', 'Not A Project'],
    ['METRICS_PORT', '70000'],
  ])('when %s=%s, then start-up fails naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});

describe('the app with LOG_FORMAT=gcp', () => {
  it("when a request carries a trace, then each of its lines names the project's trace; secrets stay out", async () => {
    const t = await createTestApp('pglite', { LOG_FORMAT: 'gcp', GOOGLE_CLOUD_PROJECT: 'my-project' });
    try {
      const response = await t.app.inject({
        url: '/CompanyProducts',
        headers: { traceparent: TRACEPARENT, 'x-request-id': 'gcp-1' },
      });
      expect(response.statusCode).toBe(200);
      const lines = t.logs().filter((line) => line.request_id === 'gcp-1');
      expect(lines.map((line) => line.message)).toEqual(['request completed']);
      expect(lines[0]).toMatchObject({
        req: { method: 'GET', url: '/CompanyProducts' },
        res: { statusCode: 200 },
      });
      for (const line of lines) {
        expect(line).toMatchObject({
          severity: 'INFO',
          'logging.googleapis.com/trace': `projects/my-project/traces/${TRACE_ID}`,
          'logging.googleapis.com/spanId': '00f067aa0ba902b7',
          'logging.googleapis.com/trace_sampled': true,
        });
      }
      expect(JSON.stringify(lines)).not.toContain('test-admin-key');

      await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'gcp-2' } });
      const untraced = t.logs().filter((line) => line.request_id === 'gcp-2');
      expect(untraced).toHaveLength(1);
      for (const line of untraced) expect(line).not.toHaveProperty(['logging.googleapis.com/trace']);
    } finally {
      await t.close();
    }
  });

  it('when the project is unknown, then lines are still in Cloud Logging form, without a trace', async () => {
    const t = await createTestApp('pglite', { LOG_FORMAT: 'gcp' });
    try {
      await t.app.inject({ url: '/healthz', headers: { traceparent: TRACEPARENT, 'x-request-id': 'gcp-3' } });
      const lines = t.logs().filter((line) => line.request_id === 'gcp-3');
      expect(lines).toHaveLength(1);
      for (const line of lines) {
        expect(line).toMatchObject({ severity: 'INFO' });
        expect(line).not.toHaveProperty(['logging.googleapis.com/trace']);
      }
    } finally {
      await t.close();
    }
  });
});

describe('what the request log never shows', () => {
  const t = useTestApp('pglite');
  // As a reader would see it: every escape decoded; for numbers, their separators dropped too.
  const decoded = (text: string) =>
    text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  const digitsOf = (text: string) => decoded(text).replace(/[ +().-]/g, '');
  const encodeAll = (text: string) =>
    [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

  /** The request lines written for `send`, and the raw text of every line written meanwhile. */
  async function loggedWhile(send: () => Promise<unknown>) {
    const before = t().logs().length;
    await send();
    const lines = t().logs().slice(before);
    return { text: lines.map((line) => JSON.stringify(line)).join('\n'), lines };
  }

  it.each([
    ['x-api-key', (key: string) => `/CompanyProducts?x-api-key=${key}`],
    ['bearer', (key: string) => `/CompanyProducts?bearer=${key}`],
    ['auth', (key: string) => `/CompanyProducts?auth=Bearer%20${key}`],
    ['api_key[]', (key: string) => `/CompanyProducts?api_key[]=${key}`],
    ['an escaped parameter', (key: string) => `/CompanyProducts?auth=${encodeAll(key)}`],
    ['the path', (key: string) => `/CompanyProducts/${key}`],
  ])('when a key is sent under %s, then the log shows its id and not its secret', async (_, urlOf) => {
    const { id, key } = await createKey(t().app, { name: 'logged', scopes: ['catalog:read'] });
    for (const headers of [{ authorization: undefined }, { authorization: `Bearer ${key}` }]) {
      const { text, lines } = await loggedWhile(() => t().app.inject({ url: urlOf(key), headers }));
      expect(decoded(text)).not.toContain(key.slice(20, 30));
      expect(lines).toContainEqual(
        expect.objectContaining({
          req: expect.objectContaining({ url: expect.stringContaining(`rk_${id}_`) }),
        }),
      );
    }
  });

  it.each([
    `/CompanyProducts?q=${TEST_ADMIN_KEY}`,
    `/CompanyProducts?q=${encodeAll(TEST_ADMIN_KEY)}`,
    `/CompanyProducts/${TEST_ADMIN_KEY.slice(0, 20)}${encodeAll(TEST_ADMIN_KEY.slice(20))}`,
  ])('when the admin key is sent in %s, then the log does not show it', async (url) => {
    const { text } = await loggedWhile(() => t().app.inject({ url }));
    expect(decoded(text)).not.toContain(TEST_ADMIN_KEY.slice(10, 30));
  });

  it.each([
    '/PhoneRecharges?phone%5Fnumber=5511987654321',
    '/PhoneRecharges?PHONE_NUMBER=5511987654321',
    '/PhoneRecharges?id=5511987654321',
    '/PhoneRecharges/5511987654321',
    '/PhoneRecharges?phone_number=%2B55%20(11)%2098765-4321',
    '/PhoneRecharges?id=55+11+98765+4321',
    `/PhoneRecharges?q=${encodeAll('+55 11 98765-4321')}`,
    '/PhoneRecharges/(11)%2098765-4321',
  ])('when a phone number is sent as %s, then the log shows it masked', async (url) => {
    const { text, lines } = await loggedWhile(() => t().app.inject({ url }));
    expect(digitsOf(text)).not.toMatch(/98765/);
    expect(lines).toEqual([
      expect.objectContaining({ req: expect.objectContaining({ url: expect.stringMatching(/\*{5}4321/) }) }),
    ]);
  });

  it.each(['5511987654321', `rk_0123456789abcdef_${'A'.repeat(43)}`, TEST_ADMIN_KEY])(
    'when X-Request-Id holds %s, then it is replaced, not logged',
    async (given) => {
      let response: Response | undefined;
      const { text } = await loggedWhile(async () => {
        response = await t().app.inject({ url: '/healthz', headers: { 'x-request-id': given } });
      });
      expect(response?.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
      expect(text).not.toContain(given.slice(0, 24));
      expect(text).toContain(String(response?.headers['x-request-id']));
    },
  );

  it('when X-Request-Id is a UUID or a plain id, then it is kept', async () => {
    for (const given of ['01900000-0000-7000-8000-000000000000', 'order-2024-10-05.7']) {
      const response = await t().app.inject({ url: '/healthz', headers: { 'x-request-id': given } });
      expect(response.headers['x-request-id']).toBe(given);
    }
  });
});
