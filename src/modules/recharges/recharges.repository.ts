import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/database.js';

export type RechargeRecord = {
  id: string;
  created_at: Date;
  company_id: string;
  product_id: string;
  phone_number: string;
  value_cents: number;
};

export type NewRecharge = Omit<RechargeRecord, 'created_at'> & { client: string };

/** What one priced insert found: the recharge it stored, or why it stored nothing. */
export type PricedInsert =
  | { outcome: 'created'; recharge: RechargeRecord }
  | { outcome: 'unknown_company' }
  | { outcome: 'unknown_product' }
  | { outcome: 'value_mismatch'; productValueCents: number };

export type PageCursor = { created_at: Date; id: string };

const COLUMNS = ['id', 'created_at', 'company_id', 'product_id', 'phone_number', 'value_cents'] as const;

export function createRechargeRepository(db: Kysely<DB>) {
  return {
    /**
     * Checks company, product and value and inserts the recharge in one statement, so one round trip and
     * one transaction. FOR SHARE holds the product row: a concurrent catalog write waits for this insert,
     * or this insert waits for it and re-reads the new value before comparing.
     */
    async insertPriced(recharge: NewRecharge): Promise<PricedInsert> {
      const { rows } = await sql<{
        company_exists: boolean;
        product_value_cents: number | null;
        created_at: Date | null;
      }>`
        with product as (
          select value_cents from products
          where company_id = ${recharge.company_id} and product_id = ${recharge.product_id}
          for share
        ), inserted as (
          insert into recharges (id, created_at, company_id, product_id, phone_number, value_cents, client)
          select ${recharge.id}, statement_timestamp(), ${recharge.company_id}, ${recharge.product_id},
                 ${recharge.phone_number}, value_cents, ${recharge.client}
          from product where value_cents = ${recharge.value_cents}
          returning created_at
        )
        select
          exists (select 1 from companies where company_id = ${recharge.company_id}) as company_exists,
          (select value_cents from product) as product_value_cents,
          (select created_at from inserted) as created_at
      `.execute(db);
      const row = rows[0];
      if (row?.created_at)
        return { outcome: 'created', recharge: { ...recharge, created_at: row.created_at } };
      if (row?.product_value_cents != null) {
        return { outcome: 'value_mismatch', productValueCents: row.product_value_cents };
      }
      return { outcome: row?.company_exists ? 'unknown_product' : 'unknown_company' };
    },

    /** `client` null: any client's (admin). */
    async findById(id: string, client: string | null): Promise<RechargeRecord | null> {
      let query = db.selectFrom('recharges').select(COLUMNS).where('id', '=', id);
      if (client !== null) query = query.where('client', '=', client);
      return (await query.executeTakeFirst()) ?? null;
    },

    /** Oldest first, keyset-paginated on (created_at, id), which the phone number index serves. */
    async listByPhoneNumber(
      phoneNumber: string,
      client: string | null,
      limit: number,
      after?: PageCursor,
    ): Promise<RechargeRecord[]> {
      let query = db
        .selectFrom('recharges')
        .select(COLUMNS)
        .where('phone_number', '=', phoneNumber)
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit);
      if (client !== null) query = query.where('client', '=', client);
      if (after) {
        query = query.where((eb) =>
          eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after.created_at, after.id)),
        );
      }
      return query.execute();
    },
  };
}

export type RechargeRepository = ReturnType<typeof createRechargeRepository>;
