import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../src/modules/webhooks/index.js';
import { createKey, createTestApp, postJson, rechargeBody, type TestApp } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

// In production: https only, and hosts must resolve to public addresses. DNS is this table; the rebinding
// host answers a public address first and the receiver's loopback address after.
describe.each(databaseTargets)('webhook URLs in production on %s', (target) => {
  let t: TestApp;
  let receiver: Receiver;
  let rebindAnswers = 0;
  const resolve: Resolver = async (host) => {
    if (host === 'hooks.example.com') return ['93.184.215.14'];
    if (host === 'metadata.example.com') return ['169.254.169.254'];
    if (host === 'rebind.example.com') {
      rebindAnswers += 1;
      return rebindAnswers === 1 ? ['93.184.215.14'] : ['127.0.0.1'];
    }
    throw new Error('ENOTFOUND');
  };
  beforeAll(async () => {
    receiver = await startReceiver();
    t = await createTestApp(
      target,
      {
        NODE_ENV: 'production',
        DISPATCHER: 'on',
        SEED_DEMO_DATA: 'true',
        WEBHOOK_RETRY_SCHEDULE: '0.1',
        WEBHOOK_TIMEOUT_MS: '500',
      },
      { resolve },
    );
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  it.each([
    ['http://hooks.example.com/x', 'must be https'],
    ['https://metadata.example.com/x', 'host metadata.example.com resolves to a non-public address'],
    ['https://127.0.0.1/x', 'host 127.0.0.1 is not a public address'],
    ['https://[::1]/x', 'host ::1 is not a public address'],
    ['https://10.0.0.8/x', 'host 10.0.0.8 is not a public address'],
    ['https://nowhere.example.com/x', 'host nowhere.example.com does not resolve'],
  ])(
    'when %s is registered, then 422 webhook_url_not_allowed says why and nothing is stored',
    async (url, reason) => {
      const shop = await createKey(t.app, {
        name: `ssrf_${Math.random().toString(36).slice(2, 8)}`,
        scopes: ['webhooks:write', 'webhooks:read'],
      });
      const response = await postJson(t.app, '/WebhookEndpoints', { url }, shop.headers);
      expect(response.statusCode).toBe(422);
      expect(response.json()).toMatchObject({
        code: 'webhook_url_not_allowed',
        detail: `the webhook URL ${reason}`,
        errors: [{ path: '/url', message: reason }],
      });
      expect((await t.app.inject({ url: '/WebhookEndpoints', headers: shop.headers })).json()).toEqual([]);
    },
  );

  it('when a host passes at registration and resolves to loopback later, then no attempt connects to it', async () => {
    const shop = await createKey(t.app, {
      name: 'ssrf_rebind',
      scopes: ['webhooks:write', 'webhooks:read', 'recharges:write'],
      deposit: 100,
    });
    const port = new URL(receiver.url()).port;
    const registered = await postJson(
      t.app,
      '/WebhookEndpoints',
      { url: `https://rebind.example.com:${port}/hooks` },
      shop.headers,
    );
    expect(registered.statusCode).toBe(201);
    expect((await postJson(t.app, '/PhoneRecharges', rechargeBody, shop.headers)).statusCode).toBe(201);
    const deadline = Date.now() + 10_000;
    let log: { status: string; attempts: number; last_response_status: number | null }[] = [];
    while (Date.now() < deadline) {
      log = (await t.app.inject({ url: '/WebhookDeliveries', headers: shop.headers })).json();
      if (log[0]?.status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(log).toEqual([
      expect.objectContaining({ status: 'failed', attempts: 2, last_response_status: null }),
    ]);
    expect(receiver.connections()).toBe(0);
  });
});
