import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/problems.js';

function blockEventLoop(ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // Busy on purpose: this is the overload.
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('under overload', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '50' });
  });
  afterAll(() => t.close());

  it('when the event loop lags past the threshold, then requests get a quick 503 and /healthz stays 200', async () => {
    expect((await t.app.inject({ url: '/CompanyProducts' })).statusCode).toBe(200);
    // Sustained lag, as under a CPU-bound flood: 150 ms of every 160 ms busy, sampled once a second.
    const load = setInterval(() => blockEventLoop(150), 160);
    onTestFinished(() => clearInterval(load));
    let shed = await t.app.inject({ url: '/CompanyProducts' });
    for (let attempt = 0; attempt < 40 && shed.statusCode === 200; attempt += 1) {
      await sleep(200);
      shed = await t.app.inject({ url: '/CompanyProducts' });
    }
    expectProblem(shed, 503, { code: 'unavailable', detail: 'the service is overloaded; retry later' });
    expect(shed.headers['retry-after']).toBe('2');
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    clearInterval(load);
    expect(t.logs().some((line) => line.msg === 'overloaded: request shed')).toBe(true);

    // Idle again: the next samples clear it without a restart.
    let recovered = await t.app.inject({ url: '/CompanyProducts' });
    for (let attempt = 0; attempt < 40 && recovered.statusCode !== 200; attempt += 1) {
      await sleep(200);
      recovered = await t.app.inject({ url: '/CompanyProducts' });
    }
    expect(recovered.statusCode).toBe(200);
  });
});
