import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { asAdmin } from './helpers/app.js';
import { type ServerProcess, startServerProcess } from './helpers/process.js';

const redisTargets = process.env.TEST_REDIS_URL ? [process.env.TEST_REDIS_URL] : [];
const LIMIT = 100;

describe.each(redisTargets)('a per-key limit across real processes sharing Redis at %s', (redisUrl) => {
  const servers: ServerProcess[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  async function start(count: number) {
    const env = {
      REDIS_URL: redisUrl,
      REDIS_PREFIX: `rl-processes-${randomBytes(4).toString('hex')}:`,
      RATE_LIMIT_PER_MINUTE: String(LIMIT),
      SEED_DEMO_DATA: 'true',
    };
    const started = await Promise.all(Array.from({ length: count }, () => startServerProcess(env)));
    servers.push(...started);
    // Windows are whole minutes of the clock: a run that crossed one would count two budgets.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 15_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
    return started;
  }

  async function admitted(targets: ServerProcess[], requests: number) {
    let ok = 0;
    for (let request = 0; request < requests; request++) {
      const server = targets[request % targets.length] as ServerProcess;
      const response = await fetch(`http://127.0.0.1:${server.port}/CompanyProducts`, { headers: asAdmin });
      if (response.status === 200) ok += 1;
      else expect(response.status).toBe(429);
      await response.arrayBuffer();
    }
    return ok;
  }

  it('when two instances serve one key, then together they admit no more than the limit', async () => {
    const ok = await admitted(await start(2), 3 * LIMIT);
    // The contract allows 1.1 × the limit; the leases never hand out more than the limit itself.
    expect(ok).toBeLessThanOrEqual(LIMIT);
    // An instance's unspent tokens are lost to the other: at most a twentieth of the limit.
    expect(ok).toBeGreaterThanOrEqual(LIMIT - LIMIT / 20);
  }, 60_000);

  it('when one instance serves the key alone, then it admits exactly the limit', async () => {
    expect(await admitted(await start(1), 3 * LIMIT)).toBe(LIMIT);
  }, 60_000);
});
