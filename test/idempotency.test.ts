import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { claro, createKey, postJson, putJson, rechargeBody } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { expectProblem } from './helpers/problems.js';

const PHONE = rechargeBody.phone_number;
const OTHER_PHONE = '5521988887777';
const REUSED = {
  code: 'idempotency_key_reused',
  detail: 'this Idempotency-Key was used for a different request; use a new key for a new recharge',
  errors: [{ path: '/', message: 'differs from the request first sent with this key' }],
};
const BAD_KEY = {
  code: 'invalid_request',
  detail: 'Idempotency-Key must be 1–255 printable ASCII characters other than a double quote',
  errors: [
    {
      path: '/idempotency-key',
      message: 'must be 1–255 printable ASCII characters but ", optionally in double quotes',
    },
  ],
};
type Recharge = typeof rechargeBody & { id: string; created_at: string };

describe.each(databaseTargets)('idempotency keys on %s', (target) => {
  const t = useTestApp(target, {
    empty: ['idempotency_keys', 'recharges'],
    clearCatalog: true,
    seed: [claro],
  });

  const recharge = (body: unknown, key?: string, headers: Record<string, string> = {}) =>
    postJson(
      t().app,
      '/PhoneRecharges',
      body,
      key === undefined ? headers : { ...headers, 'idempotency-key': key },
    );
  const listOf = async (phone: string): Promise<Recharge[]> =>
    (await t().app.inject({ method: 'GET', url: `/PhoneRecharges?phone_number=${phone}` })).json();
  const keyCount = async () =>
    (await t().database.db.selectFrom('idempotency_keys').selectAll().execute()).length;

  /** A first 201: no Idempotent-Replayed header. */
  async function fresh(body: unknown, key?: string, headers?: Record<string, string>) {
    const response = await recharge(body, key, headers);
    expect(response.statusCode).toBe(201);
    expect(response.headers['idempotent-replayed']).toBeUndefined();
    return response;
  }

  /** A repeat answered with the first response: 201, the same body and Location, and the replay header. */
  async function expectReplayOf(first: LightMyRequestResponse, response: LightMyRequestResponse) {
    expect(response.statusCode).toBe(201);
    expect(response.headers['idempotent-replayed']).toBe('true');
    expect(response.headers.location).toBe(first.headers.location);
    expect(response.json()).toEqual(first.json());
  }

  it('when a key is repeated with the same body, then the first 201 is replayed and one recharge is stored', async () => {
    const first = await fresh(rechargeBody, 'order-1');
    expect(first.headers.location).toBe(`/PhoneRecharges?id=${first.json().id}`);
    await expectReplayOf(first, await recharge(rechargeBody, 'order-1'));
    await expectReplayOf(first, await recharge(rechargeBody, 'order-1'));
    expect(await listOf(PHONE)).toEqual([first.json()]);
    expect(await keyCount()).toBe(1);
  });

  it('when there is no key, then every POST is a new recharge', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await fresh(rechargeBody)).json().id);
    expect(new Set(ids).size).toBe(3);
    expect((await listOf(PHONE)).map((r) => r.id)).toEqual(ids);
    expect(await keyCount()).toBe(0);
  });

  it('when the key is quoted, then "abc" and abc are the same key', async () => {
    const first = await fresh(rechargeBody, '"abc"');
    await expectReplayOf(first, await recharge(rechargeBody, 'abc'));
    const other = await fresh(rechargeBody, 'xyz');
    await expectReplayOf(other, await recharge(rechargeBody, '"xyz"'));
    expect(await listOf(PHONE)).toEqual([first.json(), other.json()]);
  });

  it('when the repeat writes the number or the value differently, then it is the same request', async () => {
    const first = await fresh(rechargeBody, 'order-1');
    await expectReplayOf(
      first,
      await recharge({ ...rechargeBody, phone_number: '+55 (11) 99999-9999' }, 'order-1'),
    );
    const literal = `{"company_id":"claro_11","product_id":"claro_10","phone_number":"${PHONE}","value":10.00}`;
    await expectReplayOf(first, await recharge(literal, 'order-1'));
    expect(await listOf(PHONE)).toEqual([first.json()]);
  });

  it.each([
    ['another product', { product_id: 'claro_20', value: 20 }],
    ['another phone number', { phone_number: OTHER_PHONE }],
    ['another value', { value: 20 }],
    ['another company', { company_id: 'tim_11' }],
  ])(
    'when the key is reused with %s, then 422 idempotency_key_reused and nothing is stored',
    async (_, change) => {
      const first = await fresh(rechargeBody, 'order-1');
      expectProblem(await recharge({ ...rechargeBody, ...change }, 'order-1'), 422, REUSED);
      expect(await listOf(PHONE)).toEqual([first.json()]);
      expect(await listOf(OTHER_PHONE)).toEqual([]);
      await expectReplayOf(first, await recharge(rechargeBody, 'order-1'));
    },
  );

  it('when a request with a key is refused, then the key stays free for the corrected request', async () => {
    expectProblem(await recharge({ ...rechargeBody, value: 15 }, 'order-1'), 422, {
      code: 'value_mismatch',
      detail: 'product claro_10 costs 10.00, not 15.00',
      errors: [{ path: '/value', message: 'must be 10.00' }],
    });
    expectProblem(await recharge({ ...rechargeBody, company_id: 'vivo_11' }, 'order-1'), 422, {
      code: 'unknown_company',
      detail: 'company vivo_11 does not exist',
      errors: [{ path: '/company_id', message: 'unknown company' }],
    });
    expect((await recharge({ ...rechargeBody, phone_number: '551133334444' }, 'order-1')).statusCode).toBe(
      400,
    );
    expect(await keyCount()).toBe(0);
    expect(await listOf(PHONE)).toEqual([]);

    const corrected = await fresh(rechargeBody, 'order-1');
    await expectReplayOf(corrected, await recharge(rechargeBody, 'order-1'));
    expect(await listOf(PHONE)).toEqual([corrected.json()]);
  });

  it('when a refused request is repeated after the key was bound, then it is a reuse, not its old refusal', async () => {
    expect((await recharge({ ...rechargeBody, value: 15 }, 'order-1')).statusCode).toBe(422);
    const bound = await fresh(rechargeBody, 'order-1');
    expectProblem(await recharge({ ...rechargeBody, value: 15 }, 'order-1'), 422, REUSED);
    expect(await listOf(PHONE)).toEqual([bound.json()]);
  });

  it('when two clients use the same key, then each gets its own recharge; keys of one client share them', async () => {
    // Each client's account is funded (once, by its first key): an empty account cannot recharge.
    const keyOf = async (name: string, client: string, deposit?: number) => {
      const scopes = ['recharges:read', 'recharges:write'];
      return (await createKey(t().app, { name: `${name}-${target}`, client, scopes, deposit })).headers;
    };
    const [a1, a2, b] = [
      await keyOf('acme-1', 'acme', 100),
      await keyOf('acme-2', 'acme'),
      await keyOf('globex', 'globex', 100),
    ];

    const ofA = await fresh(rechargeBody, 'shared', a1);
    const ofB = await fresh(rechargeBody, 'shared', b);
    expect(ofB.json().id).not.toBe(ofA.json().id);
    await expectReplayOf(ofA, await recharge(rechargeBody, 'shared', a2));
    await expectReplayOf(ofB, await recharge(rechargeBody, '"shared"', b));
    expectProblem(await recharge({ ...rechargeBody, phone_number: OTHER_PHONE }, 'shared', a2), 422, REUSED);

    // A key another client bound says nothing to this one: a different body is simply a new recharge.
    const ofBOther = await fresh({ ...rechargeBody, phone_number: OTHER_PHONE }, 'other', b);
    const ofAOther = await fresh(rechargeBody, 'other', a1);
    expect(ofAOther.json().id).not.toBe(ofBOther.json().id);

    const seenByB = await t().app.inject({
      method: 'GET',
      url: `/PhoneRecharges?phone_number=${PHONE}`,
      headers: b,
    });
    expect(seenByB.json()).toEqual([ofB.json()]);
    expect(await listOf(PHONE)).toEqual([ofA.json(), ofB.json(), ofAOther.json()]);
    expect(await keyCount()).toBe(4);
  });

  it.each([
    ['empty', '', BAD_KEY],
    ['256 characters long', 'k'.repeat(256), BAD_KEY],
    ['256 characters long in quotes', `"${'k'.repeat(256)}"`, BAD_KEY],
    ['non-ASCII', 'pedido-ç', BAD_KEY],
    ['padded with spaces inside quotes', '" abc "', BAD_KEY],
    ['an unmatched quote', '"abc', BAD_KEY],
    ['a pair of quotes around nothing', '""', BAD_KEY],
    ['a quote inside', 'a"b', BAD_KEY],
  ])(
    'when the key is %s, then 400 naming /idempotency-key and nothing is stored',
    async (_, key, problem) => {
      expectProblem(await recharge(rechargeBody, key), 400, problem);
      expect(await listOf(PHONE)).toEqual([]);
      expect(await keyCount()).toBe(0);
    },
  );

  it('when the key is 255 printable characters, bare or quoted, then it is a key like any other', async () => {
    const longest = `~ ${'k'.repeat(252)}!`;
    expect(longest).toHaveLength(255);
    const first = await fresh(rechargeBody, longest);
    await expectReplayOf(first, await recharge(rechargeBody, `"${longest}"`));
    expect(await listOf(PHONE)).toEqual([first.json()]);
  });

  it('when the catalog changed or the company was deleted, then the replay still returns the stored recharge', async () => {
    const first = await fresh(rechargeBody, 'order-1');
    const repriced = { company_id: 'claro_11', products: [{ id: 'claro_10', value: 12.5 }] };
    expect((await putJson(t().app, '/CompanyProducts?company_id=claro_11', repriced)).statusCode).toBe(200);
    await expectReplayOf(first, await recharge(rechargeBody, 'order-1'));

    const deleted = await t().app.inject({ method: 'DELETE', url: '/CompanyProducts?company_id=claro_11' });
    expect(deleted.statusCode).toBe(200);
    await expectReplayOf(first, await recharge(rechargeBody, 'order-1'));
    expectProblem(await recharge({ ...rechargeBody, value: 12.5 }, 'order-1'), 422, REUSED);
    expect(await listOf(PHONE)).toEqual([first.json()]);
  });
});
