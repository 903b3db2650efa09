import { describe, expect, it } from 'vitest';
import { claro, postJson, putJson, rechargeBody } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { useOtherSession, waitUntilBlocked } from './helpers/locks.js';
import { expectProblem } from './helpers/problems.js';

const listUrl = `/PhoneRecharges?phone_number=${rechargeBody.phone_number}`;

describe.each(databaseTargets)('recharges racing catalog writes through the API on %s', (target) => {
  const t = useTestApp(target, { empty: ['recharges'], clearCatalog: true, seed: [claro] });

  it('when a price change and recharges at the old price race, then each recharge is priced consistently', async () => {
    const raised = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 11 }] };
    const [change, ...recharges] = await Promise.all([
      putJson(t().app, '/CompanyProducts?company_id=claro_11', raised),
      ...Array.from({ length: 5 }, () => postJson(t().app, '/PhoneRecharges', rechargeBody)),
    ]);
    expect(change?.statusCode).toBe(200);
    const made = recharges.filter((response) => response.statusCode === 201).map((r) => r.json());
    for (const refused of recharges.filter((response) => response.statusCode !== 201)) {
      expect(refused.json()).toMatchObject({
        status: 422,
        code: 'value_mismatch',
        detail: 'product claro_10 costs 11.00, not 10.00',
      });
    }
    for (const recharge of made) expect(recharge).toMatchObject({ product_id: 'claro_10', value: 10 });
    const listed = (await t().app.inject({ method: 'GET', url: listUrl })).json();
    expect(listed).toHaveLength(made.length);
    expect(listed).toEqual(expect.arrayContaining(made));
  });
});

// Row locks need a second session on the same database; PGlite has a single one.
describe.each(databaseTargets.filter((target) => target === 'postgres'))(
  'recharges racing catalog writes on %s',
  (target) => {
    const t = useTestApp(target, { empty: ['recharges'], clearCatalog: true, seed: [claro] });
    const other = useOtherSession(() => t().database);

    const recharge = (value: number) => postJson(t().app, '/PhoneRecharges', { ...rechargeBody, value });
    const listed = async () => (await t().app.inject({ method: 'GET', url: listUrl })).json();

    /** Opens a transaction in the other session that changes claro_10 and holds its row lock. */
    async function holdPriceChange(valueCents: number) {
      await other().query('begin');
      await other().query(
        `update products set value_cents = $1 where company_id = 'claro_11' and product_id = 'claro_10'`,
        [valueCents],
      );
    }

    it('when a catalog write holds the product and commits a new value, then the waiting recharge is refused', async () => {
      await holdPriceChange(1100);
      const pending = recharge(10);
      await waitUntilBlocked(other(), 1);
      await other().query('commit');

      const response = await pending;
      expectProblem(response, 422, {
        code: 'value_mismatch',
        detail: 'product claro_10 costs 11.00, not 10.00',
        errors: [{ path: '/value', message: 'must be 11.00' }],
      });
      expect(await listed()).toEqual([]);
    });

    it('when the value changes back while recharges wait, then only the one with the new value is made', async () => {
      await holdPriceChange(1100);
      await other().query('commit');
      await holdPriceChange(1000);
      const atTen = recharge(10);
      const atEleven = recharge(11);
      await waitUntilBlocked(other(), 2);
      await other().query('commit');

      const [made, refused] = await Promise.all([atTen, atEleven]);
      expect(made.statusCode).toBe(201);
      expect(made.json()).toMatchObject({ product_id: 'claro_10', value: 10 });
      expect(refused.statusCode).toBe(422);
      expect(refused.json()).toMatchObject({
        code: 'value_mismatch',
        detail: 'product claro_10 costs 10.00, not 11.00',
      });
      expect(await listed()).toEqual([made.json()]);
    });

    it('when the catalog write is rolled back, then the waiting recharge is made at the old value', async () => {
      await holdPriceChange(1100);
      const pending = recharge(10);
      await waitUntilBlocked(other(), 1);
      await other().query('rollback');

      const response = await pending;
      expect(response.statusCode).toBe(201);
      expect(await listed()).toEqual([response.json()]);
    });
  },
);
