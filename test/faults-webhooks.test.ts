import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { killDuringRechargeBurst, startServerDespiteDroppedSchemas } from './helpers/process.js';
import { type Receiver, startReceiver } from './helpers/receiver.js';

const pgTargets = process.env.TEST_DATABASE_URL ? [process.env.TEST_DATABASE_URL] : [];

describe.each(pgTargets)('webhooks of a server process killed mid-burst (PostgreSQL %s)', (url) => {
  let database: TestDatabase;
  let receiver: Receiver;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await database.close();
  });

  async function start() {
    const server = await startServerDespiteDroppedSchemas(
      {
        DATABASE_URL: `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${database.schema}`)}`,
        REDIS_URL: '',
        SEED_DEMO_DATA: 'true',
        DISPATCHER: 'on',
        WEBHOOK_RETRY_SCHEDULE: '0.2,0.5,1',
      },
      database.schema ?? '',
    );
    await expect
      .poll(
        () =>
          fetch(`http://127.0.0.1:${server.port}/readyz`).then(
            (r) => r.status,
            () => 0,
          ),
        {
          timeout: 10_000,
          interval: 100,
        },
      )
      .toBe(200);
    return server;
  }

  it('when it is killed during a burst, then after a restart every final outcome reaches the receiver, signed', async () => {
    const server = await start();
    const base = `http://127.0.0.1:${server.port}`;
    const admin = { ...asAdmin, 'content-type': 'application/json' };
    const made = await fetch(`${base}/ApiKeys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'hooked_shop', scopes: ['recharges:write', 'webhooks:write'] }),
    });
    const { key, client } = (await made.json()) as { key: string; client: string };
    const shop = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    await fetch(`${base}/LedgerEntries`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ client, type: 'deposit', amount: 5000 }),
    });
    const endpoint = (await (
      await fetch(`${base}/WebhookEndpoints`, {
        method: 'POST',
        headers: shop,
        body: JSON.stringify({ url: receiver.url() }),
      })
    ).json()) as { secret: string };

    await killDuringRechargeBurst(server, key, 200, 60);

    const again = await start();
    try {
      const finals = async () =>
        await database.db
          .selectFrom('recharges')
          .select(['id', 'status'])
          .where('client', '=', client)
          .execute();
      await expect
        .poll(
          async () => (await finals()).filter((r) => ['pending', 'processing'].includes(r.status)).length,
          { timeout: 30_000, interval: 200 },
        )
        .toBe(0);
      const recharges = await finals();
      expect(recharges.length).toBeGreaterThan(0);
      const verifier = new Webhook(endpoint.secret);
      const heard = () => {
        const ids = new Set<string>();
        for (const entry of receiver.received) {
          const payload = verifier.verify(entry.body, entry.headers) as {
            type: string;
            data: { id: string; status: string };
          };
          expect(payload.type).toBe(`phone_recharge.${payload.data.status}`);
          ids.add(payload.data.id);
        }
        return ids;
      };
      await expect
        .poll(() => recharges.filter((r) => !heard().has(r.id)).length, { timeout: 30_000, interval: 200 })
        .toBe(0);
      const messages = await database.db.selectFrom('webhook_messages').select(['recharge_id']).execute();
      expect(new Set(messages.map((m) => m.recharge_id)).size).toBe(recharges.length);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  }, 90_000);
});
