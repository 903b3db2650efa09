import type { Kysely } from 'kysely';
import type { DB } from '../../db/database.js';
import type { Principal } from '../../shared/access.js';

export type AuditAction =
  | 'catalog.create'
  | 'catalog.replace'
  | 'catalog.delete'
  | 'api_key.create'
  | 'api_key.revoke'
  | 'account.update'
  | 'ledger.deposit'
  | 'ledger.adjustment';

export type AuditEvent = {
  id: string;
  occurred_at: Date;
  actor_key_id: string;
  actor_client: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
};

export function createAuditRepository(db: Kysely<DB>) {
  return {
    /** Appends one event; callers do it inside the transaction of the change it records. */
    async append(actor: Principal, action: AuditAction, target: string, before: unknown, after: unknown) {
      await db
        .insertInto('audit_events')
        .values({
          actor_key_id: actor.keyId,
          actor_client: actor.client,
          action,
          target,
          before: before === null ? null : JSON.stringify(before),
          after: after === null ? null : JSON.stringify(after),
        })
        .execute();
    },

    /** Newest first, keyset-paginated on the identity column. */
    async list(limit: number, beforeId?: string): Promise<AuditEvent[]> {
      let query = db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(limit);
      if (beforeId !== undefined) query = query.where('id', '<', beforeId);
      const rows = await query.execute();
      return rows.map((row) => ({ ...row, id: String(row.id) }));
    },
  };
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;
