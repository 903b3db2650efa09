import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { describe, expect, it } from 'vitest';
import type { DB } from '../src/db/database.js';
import { createDeliveryRepository } from '../src/modules/webhooks/delivery.repository.js';
import { createTestDatabase, databaseTargets } from './helpers/databases.js';

/** `endpoints` active endpoints of one client, each with `perEndpoint` messages due now, of one recharge. */
async function dueMessages(db: Kysely<DB>, endpoints: number, perEndpoint: number) {
  const recharge = uuidv7();
  await sql`
    insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents, client, status,
                           updated_at)
    values (${recharge}, statement_timestamp(), 'claro_11', 'claro_10', '5511999999999', 1000, 'hooks',
            'completed', statement_timestamp())`.execute(db);
  await sql`
    insert into webhook_endpoints (id, client, url, events, status, secret)
    select 'ep_' || e, 'hooks', 'http://127.0.0.1:9/', array['phone_recharge.completed'], 'active', 'whsec_x'
    from generate_series(1, ${endpoints}::integer) as e`.execute(db);
  await sql`
    insert into webhook_messages (id, endpoint_id, client, type, recharge_id, recharge_status,
                                  recharge_updated_at, status, next_attempt_at)
    select 'msg_' || e || '_' || m, 'ep_' || e, 'hooks', 'phone_recharge.completed', ${recharge}::uuid,
           'completed', statement_timestamp(), 'pending', statement_timestamp() - interval '1 s'
    from generate_series(1, ${endpoints}::integer) as e, generate_series(1, ${perEndpoint}::integer) as m`.execute(
    db,
  );
}

describe.each(databaseTargets)('the webhook claim on %s', (target) => {
  it('takes no more of an endpoint than the room its attempts in flight leave', async () => {
    const database = await createTestDatabase(target);
    try {
      await dueMessages(database.db, 2, 10);
      const repository = createDeliveryRepository(database.db);
      const claimed = await repository.claim(20, 60_000, new Map([['ep_1', 3]]), 4);
      const byEndpoint = (id: string) => claimed.filter((message) => message.endpoint_id === id).length;
      expect(byEndpoint('ep_1')).toBe(1);
      expect(byEndpoint('ep_2')).toBe(4);
    } finally {
      await database.close();
    }
  });

  it('ignores a late record from an attempt whose lease ran out and was taken over; the latest records', async () => {
    const database = await createTestDatabase(target);
    try {
      await dueMessages(database.db, 1, 1);
      const repository = createDeliveryRepository(database.db);
      const [first] = await repository.claim(10, 60_000, new Map(), 64);
      // The first attempt's lease runs out; another instance takes the message over.
      await sql`update webhook_messages set next_attempt_at = statement_timestamp()`.execute(database.db);
      const [second] = await repository.claim(10, 60_000, new Map(), 64);
      expect([first?.id, second?.id, first?.attempts, second?.attempts]).toEqual([
        'msg_1_1',
        'msg_1_1',
        1,
        2,
      ]);

      // The late one was a 410: had it been recorded, the message would fail and the endpoint be disabled.
      const late = { id: 'msg_1_1', status: 'failed', responseStatus: 410, retryInMs: null } as const;
      await repository.record([{ ...late, attempts: 1, disableEndpoint: true }]);
      const state = () =>
        sql<{ message: string; endpoint: string }>`
          select m.status as message, e.status as endpoint
          from webhook_messages m join webhook_endpoints e on e.id = m.endpoint_id`.execute(database.db);
      expect((await state()).rows).toEqual([{ message: 'pending', endpoint: 'active' }]);

      await repository.record([
        {
          id: 'msg_1_1',
          attempts: 2,
          status: 'delivered',
          responseStatus: 200,
          retryInMs: null,
          disableEndpoint: false,
        },
      ]);
      expect((await state()).rows).toEqual([{ message: 'delivered', endpoint: 'active' }]);
    } finally {
      await database.close();
    }
  });
});

describe.each(databaseTargets.filter((target) => target === 'postgres'))(
  'two webhook claims on %s',
  (target) => {
    it('never lease one message twice when they run at once', async () => {
      const database = await createTestDatabase(target);
      try {
        await dueMessages(database.db, 100, 30);
        const repository = createDeliveryRepository(database.db);
        let twice = 0;
        let claimed = 0;
        for (let round = 0; round < 20; round += 1) {
          // The second claim starts while the first runs, at a different point each round.
          const first = repository.claim(20, 60_000, new Map(), 64);
          await sleep(round % 5);
          const second = repository.claim(20, 60_000, new Map(), 64);
          const [a, b] = await Promise.all([first, second]);
          const ids = new Set(a.map((message) => message.id));
          twice += b.filter((message) => ids.has(message.id)).length;
          claimed += a.length + b.length;
        }
        // A claim that meets rows the other holds skips them: it may come back short, and the engine claims again.
        expect(claimed).toBeGreaterThanOrEqual(400);
        expect(twice).toBe(0);
      } finally {
        await database.close();
      }
    });
  },
);
