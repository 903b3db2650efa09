import type { ServerResponse } from 'node:http';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PREVIOUS_SECRETS } from '../src/modules/webhooks/webhooks.schemas.js';
import {
  asAdmin,
  createKey,
  createTestApp,
  postJson,
  putJson,
  rechargeBody,
  type TestApp,
  type TestKey,
} from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

type Endpoint = {
  id: string;
  url: string;
  events: string[];
  status: string;
  created_at: string;
  secret?: string;
};
type Message = {
  id: string;
  endpoint_id: string;
  type: string;
  recharge_id: string;
  status: string;
  attempts: number;
  last_response_status: number | null;
  next_attempt_at: string | null;
  created_at: string;
};

const SCOPES = ['recharges:write', 'recharges:read', 'webhooks:read', 'webhooks:write'];
let clients = 0;
let numbers = 0;
const phone = (ending: string) => {
  numbers += 1;
  return `55119${String(numbers).padStart(4, '0')}${ending}`;
};

async function until<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(databaseTargets)('webhooks on %s', (target) => {
  let t: TestApp;
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
    t = await createTestApp(target, {
      DISPATCHER: 'on',
      SEED_DEMO_DATA: 'true',
      RECHARGES_PER_CLIENT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_MINUTE: '100000',
      WEBHOOK_RETRY_SCHEDULE: '0.2,0.2',
      // Far longer than any test waits: an attempt to a hanging receiver stays open for the whole test.
      WEBHOOK_TIMEOUT_MS: '30000',
      WEBHOOK_CONCURRENCY_PER_ENDPOINT: '2',
    });
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  const newShop = async (): Promise<TestKey> => {
    clients += 1;
    return createKey(t.app, { name: `hooks_${clients}`, scopes: SCOPES, deposit: 1000 });
  };
  const register = async (shop: TestKey, body: Record<string, unknown>) => {
    const response = await postJson(t.app, '/WebhookEndpoints', body, shop.headers);
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as Endpoint;
  };
  const recharge = async (shop: TestKey, ending: string) => {
    const response = await postJson(
      t.app,
      '/PhoneRecharges',
      { ...rechargeBody, phone_number: phone(ending) },
      shop.headers,
    );
    expect(response.statusCode).toBe(201);
    return response.json() as { id: string; phone_number: string };
  };
  const messages = async (shop: TestKey, query = '') =>
    (await t.app.inject({ url: `/WebhookDeliveries${query}`, headers: shop.headers })).json() as Message[];
  const receivedFor = (rechargeId: string) =>
    receiver.received.filter((entry) => entry.body.includes(rechargeId));

  it('when an endpoint is registered, then its secret is shown once, and the list never shows it', async () => {
    const shop = await newShop();
    const endpoint = await register(shop, { url: receiver.url() });
    expect(endpoint).toEqual({
      id: expect.stringMatching(/^ep_[0-9a-f]{24}$/),
      url: receiver.url(),
      events: ['phone_recharge.completed', 'phone_recharge.failed', 'phone_recharge.reversed'],
      status: 'active',
      created_at: expect.any(String),
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    expect(Buffer.from(String(endpoint.secret).slice(6), 'base64')).toHaveLength(32);
    const listed = (await t.app.inject({ url: '/WebhookEndpoints', headers: shop.headers })).json();
    const { secret: _secret, ...shown } = endpoint;
    expect(listed).toEqual([shown]);
  });

  it('when a client has 10 endpoints, then an 11th is 409; deleting one makes room', async () => {
    const shop = await newShop();
    const made = [];
    for (let index = 0; index < 10; index += 1)
      made.push(await register(shop, { url: receiver.url(`/n${index}`) }));
    const eleventh = await postJson(t.app, '/WebhookEndpoints', { url: receiver.url() }, shop.headers);
    expect(eleventh.statusCode).toBe(409);
    expect(eleventh.json().code).toBe('conflict');
    const removed = await t.app.inject({
      method: 'DELETE',
      url: `/WebhookEndpoints?id=${made[0]?.id}`,
      headers: shop.headers,
    });
    expect(removed.statusCode).toBe(204);
    expect(
      (await postJson(t.app, '/WebhookEndpoints', { url: receiver.url() }, shop.headers)).statusCode,
    ).toBe(201);
  });

  it('when another client names an endpoint or a message, then it is as absent as a missing one', async () => {
    const owner = await newShop();
    const other = await newShop();
    const endpoint = await register(owner, { url: receiver.url() });
    const made = await recharge(owner, '1234');
    const [message] = await until(
      () => messages(owner),
      (list) => list.length === 1,
    );
    const put = await putJson(
      t.app,
      `/WebhookEndpoints?id=${endpoint.id}`,
      { url: receiver.url(), events: ['phone_recharge.failed'] },
      other.headers,
    );
    expect(put.statusCode).toBe(404);
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/WebhookEndpoints?id=${endpoint.id}`,
      headers: other.headers,
    });
    expect(deleted.statusCode).toBe(404);
    const resent = await t.app.inject({
      method: 'POST',
      url: `/WebhookDeliveries?id=${message?.id}`,
      headers: other.headers,
    });
    expect(resent.statusCode).toBe(404);
    expect(await messages(other)).toEqual([]);
    expect((await t.app.inject({ url: '/WebhookEndpoints', headers: other.headers })).json()).toEqual([]);
    await until(
      () => receivedFor(made.id),
      (list) => list.length === 1,
    );
    const all = (await t.app.inject({ url: '/WebhookEndpoints', headers: asAdmin })).json() as Endpoint[];
    expect(all.map((each) => each.id)).toContain(endpoint.id);
  });

  it('when a recharge completes or fails, then the receiver gets a message that standardwebhooks verifies', async () => {
    const shop = await newShop();
    const endpoint = await register(shop, { url: receiver.url('/signed') });
    const completed = await recharge(shop, '1234');
    const failed = await recharge(shop, '9001');
    await until(
      () => receivedFor(completed.id).length + receivedFor(failed.id).length,
      (count) => count === 2,
    );
    const verifier = new Webhook(String(endpoint.secret));
    for (const [made, type] of [
      [completed, 'phone_recharge.completed'],
      [failed, 'phone_recharge.failed'],
    ] as const) {
      const [entry] = receivedFor(made.id);
      if (!entry) throw new Error('not received');
      expect(entry.path).toBe('/signed');
      expect(entry.headers['content-type']).toBe('application/json');
      const payload = verifier.verify(entry.body, entry.headers) as {
        type: string;
        timestamp: string;
        data: unknown;
      };
      const current = (
        await t.app.inject({ url: `/PhoneRecharges?id=${made.id}`, headers: shop.headers })
      ).json();
      expect(payload).toEqual({ type, timestamp: expect.any(String), data: current });
      expect(Object.keys(JSON.parse(entry.body))).toEqual(['type', 'timestamp', 'data']);
      expect(Math.abs(Number(entry.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    }
    const log = await until(
      () => messages(shop),
      (list) => list.every((message) => message.status === 'delivered'),
    );
    expect(log).toHaveLength(2);
    for (const message of log) {
      expect(message).toMatchObject({
        endpoint_id: endpoint.id,
        attempts: 1,
        last_response_status: 204,
        next_attempt_at: null,
      });
      expect(receivedFor(message.recharge_id)[0]?.headers['webhook-id']).toBe(message.id);
    }
  });

  it('when the body, the timestamp or the secret is not the one signed, then verification fails', async () => {
    const shop = await newShop();
    const endpoint = await register(shop, { url: receiver.url() });
    const made = await recharge(shop, '1234');
    const [entry] = await until(
      () => receivedFor(made.id),
      (list) => list.length === 1,
    );
    if (!entry) throw new Error('not received');
    const verifier = new Webhook(String(endpoint.secret));
    expect(() => verifier.verify(entry.body.replace('"value":10', '"value":99'), entry.headers)).toThrow();
    const later = String(Number(entry.headers['webhook-timestamp']) + 1);
    expect(() => verifier.verify(entry.body, { ...entry.headers, 'webhook-timestamp': later })).toThrow();
    const stranger = (await register(shop, { url: receiver.url('/other') })).secret;
    expect(() => new Webhook(String(stranger)).verify(entry.body, entry.headers)).toThrow();
  });

  it('when the events are filtered, then only those events are sent', async () => {
    const shop = await newShop();
    await register(shop, { url: receiver.url('/failures'), events: ['phone_recharge.failed'] });
    const completed = await recharge(shop, '1234');
    const failed = await recharge(shop, '9009');
    await until(
      () => receivedFor(failed.id),
      (list) => list.length === 1,
    );
    await until(
      () => t.app.inject({ url: `/PhoneRecharges?id=${completed.id}`, headers: shop.headers }),
      (r) => r.json().status === 'completed',
    );
    expect(receivedFor(completed.id)).toEqual([]);
    expect((await messages(shop)).map((message) => message.type)).toEqual(['phone_recharge.failed']);
  });

  it('when the secret is rotated, then both the old and the new secret verify the next message', async () => {
    const shop = await newShop();
    const endpoint = await register(shop, { url: receiver.url() });
    const rotated = await putJson(
      t.app,
      `/WebhookEndpoints?id=${endpoint.id}`,
      { url: receiver.url(), events: ['phone_recharge.completed'], rotate_secret: true },
      shop.headers,
    );
    expect(rotated.statusCode).toBe(200);
    const { secret } = rotated.json() as Endpoint;
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(endpoint.secret);
    const made = await recharge(shop, '1234');
    const [entry] = await until(
      () => receivedFor(made.id),
      (list) => list.length === 1,
    );
    if (!entry) throw new Error('not received');
    expect(entry.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(new Webhook(String(secret)).verify(entry.body, entry.headers)).toMatchObject({
      type: 'phone_recharge.completed',
    });
    expect(new Webhook(String(endpoint.secret)).verify(entry.body, entry.headers)).toMatchObject({
      type: 'phone_recharge.completed',
    });
    const plain = await putJson(
      t.app,
      `/WebhookEndpoints?id=${endpoint.id}`,
      { url: receiver.url(), events: ['phone_recharge.completed'] },
      shop.headers,
    );
    expect(plain.json().secret).toBeUndefined();
  });

  it('when the secret is rotated again within a day, then every secret rotated out that day still signs, up to a bound', async () => {
    const shop = await newShop();
    const endpoint = await register(shop, { url: receiver.url() });
    const rotate = () =>
      putJson(
        t.app,
        `/WebhookEndpoints?id=${endpoint.id}`,
        { url: receiver.url(), events: ['phone_recharge.completed'], rotate_secret: true },
        shop.headers,
      );
    const secrets = [String(endpoint.secret)];
    for (let index = 0; index < MAX_PREVIOUS_SECRETS; index += 1) {
      const rotated = await rotate();
      expect(rotated.statusCode).toBe(200);
      secrets.push(String((rotated.json() as Endpoint).secret));
    }
    // One more would silence a secret before its day is up: refused, and the secrets stay as they were.
    const refused = await rotate();
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'conflict' });

    const signatures = async (ending: string) => {
      const made = await recharge(shop, ending);
      const [entry] = await until(
        () => receivedFor(made.id),
        (list) => list.length === 1,
      );
      if (!entry) throw new Error('not received');
      return entry;
    };
    const entry = await signatures('1234');
    expect(entry.headers['webhook-signature']?.split(' ')).toHaveLength(MAX_PREVIOUS_SECRETS + 1);
    for (const secret of secrets) {
      expect(new Webhook(secret).verify(entry.body, entry.headers)).toMatchObject({
        type: 'phone_recharge.completed',
      });
    }

    // A day later the old secrets stop signing, and rotating is possible again.
    await sql`update webhook_endpoints
              set previous_secrets = (select jsonb_agg(jsonb_set(p, '{until}', to_jsonb(now() - interval '1 second')))
                                      from jsonb_array_elements(previous_secrets) p),
                  previous_secret_until = now() - interval '1 second'
              where id = ${endpoint.id}`.execute(t.database.db);
    const later = await signatures('5678');
    expect(later.headers['webhook-signature']?.split(' ')).toHaveLength(1);
    expect(new Webhook(secrets.at(-1) ?? '').verify(later.body, later.headers)).toBeTruthy();
    expect((await rotate()).statusCode).toBe(200);
  });

  it('when the receiver fails or redirects, then it is tried again on schedule with the same webhook-id, and a redirect is not followed', async () => {
    const shop = await newShop();
    await register(shop, { url: receiver.url('/flaky') });
    let calls = 0;
    receiver.answerWith((entry, response) => {
      if (entry.path !== '/flaky') return response.writeHead(204).end();
      calls += 1;
      if (calls === 1) return response.writeHead(500).end();
      if (calls === 2) return response.writeHead(302, { location: '/elsewhere' }).end();
      return response.writeHead(200).end('ok');
    });
    try {
      const made = await recharge(shop, '1234');
      const [message] = await until(
        () => messages(shop),
        (list) => list[0]?.status === 'delivered',
      );
      expect(message).toMatchObject({ attempts: 3, last_response_status: 200 });
      const attempts = receivedFor(made.id);
      expect(attempts).toHaveLength(3);
      expect(new Set(attempts.map((entry) => entry.headers['webhook-id']))).toEqual(new Set([message?.id]));
      expect(receiver.received.filter((entry) => entry.path === '/elsewhere')).toEqual([]);
    } finally {
      receiver.answerWith((_, response) => response.writeHead(204).end());
    }
  });

  it('when every attempt of the schedule fails, then the message is failed', async () => {
    const shop = await newShop();
    await register(shop, { url: receiver.url('/down') });
    receiver.answerWith((entry, response) => response.writeHead(entry.path === '/down' ? 503 : 204).end());
    try {
      await recharge(shop, '1234');
      const [message] = await until(
        () => messages(shop),
        (list) => list[0]?.status === 'failed',
      );
      expect(message).toMatchObject({ attempts: 3, last_response_status: 503, next_attempt_at: null });
    } finally {
      receiver.answerWith((_, response) => response.writeHead(204).end());
    }
  });

  it('when the receiver answers 410, then the endpoint is disabled and its messages wait until a PUT', async () => {
    const shop = await newShop();
    const endpoint = await register(shop, { url: receiver.url('/gone') });
    receiver.answerWith((entry, response) => response.writeHead(entry.path === '/gone' ? 410 : 204).end());
    try {
      const first = await recharge(shop, '1234');
      await until(
        () => messages(shop),
        (list) => list[0]?.status === 'failed',
      );
      const listed = (
        await t.app.inject({ url: '/WebhookEndpoints', headers: shop.headers })
      ).json() as Endpoint[];
      expect(listed[0]?.status).toBe('disabled');
      const second = await recharge(shop, '5678');
      await until(
        () => messages(shop),
        (list) => list.length === 2,
      );
      // A resend of the failed message waits too: a 410 is overridden by a PUT only.
      const failed = (await messages(shop)).find((message) => message.recharge_id === first.id);
      const resent = await t.app.inject({
        method: 'POST',
        url: `/WebhookDeliveries?id=${failed?.id}`,
        headers: shop.headers,
      });
      expect(resent.statusCode).toBe(202);
      expect(resent.json().status).toBe('pending');
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(receivedFor(second.id)).toEqual([]);
      expect(receivedFor(first.id)).toHaveLength(1);
      expect((await messages(shop)).find((message) => message.recharge_id === second.id)?.status).toBe(
        'pending',
      );

      receiver.answerWith((_, response) => response.writeHead(204).end());
      const put = await putJson(
        t.app,
        `/WebhookEndpoints?id=${endpoint.id}`,
        { url: receiver.url('/gone'), events: endpoint.events },
        shop.headers,
      );
      expect(put.json().status).toBe('active');
      await until(
        () => receivedFor(second.id),
        (list) => list.length === 1,
      );
      await until(
        () => receivedFor(first.id),
        (list) => list.length === 2,
      );
    } finally {
      receiver.answerWith((_, response) => response.writeHead(204).end());
    }
  });

  it('when a message is sent again, then the receiver gets it with the same webhook-id', async () => {
    const shop = await newShop();
    await register(shop, { url: receiver.url() });
    const made = await recharge(shop, '1234');
    const [message] = await until(
      () => messages(shop),
      (list) => list[0]?.status === 'delivered',
    );
    const resent = await t.app.inject({
      method: 'POST',
      url: `/WebhookDeliveries?id=${message?.id}`,
      headers: shop.headers,
    });
    expect(resent.statusCode).toBe(202);
    expect(resent.json()).toMatchObject({ id: message?.id, status: 'pending' });
    const attempts = await until(
      () => receivedFor(made.id),
      (list) => list.length === 2,
    );
    expect(attempts.map((entry) => entry.headers['webhook-id'])).toEqual([message?.id, message?.id]);
    expect(attempts[1]?.body).toBe(attempts[0]?.body);
    expect(
      (
        await until(
          () => messages(shop),
          (list) => list[0]?.status === 'delivered',
        )
      )[0]?.attempts,
    ).toBe(2);
  });

  it('when one receiver hangs, then another client’s messages are delivered without waiting for it', async () => {
    const stuck = await newShop();
    const healthy = await newShop();
    await register(stuck, { url: receiver.url('/hang') });
    await register(healthy, { url: receiver.url('/fast') });
    const held: ServerResponse[] = [];
    receiver.answerWith((entry, response) => {
      if (entry.path === '/hang') held.push(response);
      else response.writeHead(204).end();
    });
    try {
      for (let index = 0; index < 6; index += 1) await recharge(stuck, '1234');
      await until(
        () => held.length,
        (count) => count >= 2,
      );
      const made = await recharge(healthy, '1234');
      await until(
        () => receivedFor(made.id),
        (list) => list.length === 1,
        5_000,
      );
      // Delivered while the stuck endpoint's attempts are all still open: nothing waited for them to end.
      expect(held.every((response) => !response.writableEnded)).toBe(true);
      // At most WEBHOOK_CONCURRENCY_PER_ENDPOINT of the stuck endpoint's messages are in flight at once.
      expect(held).toHaveLength(2);
    } finally {
      receiver.answerWith((_, response) => response.writeHead(204).end());
      for (const response of held) response.writeHead(204).end();
    }
  });

  it('when the delivery log is paged, then newest first with Link, and a bad cursor is a 400', async () => {
    const shop = await newShop();
    await register(shop, { url: receiver.url() });
    for (let index = 0; index < 3; index += 1) await recharge(shop, '1234');
    await until(
      () => messages(shop),
      (list) => list.length === 3,
    );
    const first = await t.app.inject({ url: '/WebhookDeliveries?limit=2', headers: shop.headers });
    expect(first.json()).toHaveLength(2);
    const next = /<([^>]+)>; rel="next"/.exec(String(first.headers.link))?.[1];
    const second = (await t.app.inject({ url: String(next), headers: shop.headers })).json() as Message[];
    expect(second).toHaveLength(1);
    const all = [...(first.json() as Message[]), ...second];
    expect(new Set(all.map((message) => message.id)).size).toBe(3);
    expect(
      (await t.app.inject({ url: '/WebhookDeliveries?cursor=bad', headers: shop.headers })).statusCode,
    ).toBe(400);
  });

  it('when messages were sent, then /metrics shows attempts by outcome and the backlog', async () => {
    const metrics = (await t.app.inject({ url: '/metrics', headers: asAdmin })).body;
    expect(metrics).toMatch(/^webhook_attempt_duration_seconds_count\{outcome="delivered"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^webhook_attempt_duration_seconds_count\{outcome="retry"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^webhook_attempt_duration_seconds_count\{outcome="disabled"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^webhook_messages_pending\{state="due"\} \d+$/m);
    expect(metrics).toMatch(/^webhook_oldest_due_age_seconds \d/m);
  });
});
