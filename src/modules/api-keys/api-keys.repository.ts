import type { Kysely } from 'kysely';
import type { DB } from '../../db/database.js';
import type { Scope } from '../../shared/access.js';

export type ApiKeyRecord = {
  id: string;
  name: string;
  client: string;
  scopes: Scope[];
  created_at: Date;
};

export type StoredKey = ApiKeyRecord & { key_hash: Uint8Array };

const PUBLIC_COLUMNS = ['id', 'name', 'client', 'scopes', 'created_at'] as const;

export function createApiKeyRepository(db: Kysely<DB>) {
  return {
    async insert(key: Omit<ApiKeyRecord, 'created_at'> & { key_hash: Uint8Array; created_by: string }) {
      const row = await db
        .insertInto('api_keys')
        .values(key)
        .returning(PUBLIC_COLUMNS)
        .executeTakeFirstOrThrow();
      // A client's account exists from its first key, empty and without credit: it is funded before it buys.
      await db
        .insertInto('accounts')
        .values({ client: key.client })
        .onConflict((conflict) => conflict.column('client').doNothing())
        .execute();
      return row as ApiKeyRecord;
    },

    async listActive(): Promise<ApiKeyRecord[]> {
      const rows = await db
        .selectFrom('api_keys')
        .select(PUBLIC_COLUMNS)
        .where('revoked_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows as ApiKeyRecord[];
    },

    async findActive(id: string): Promise<StoredKey | null> {
      const row = await db
        .selectFrom('api_keys')
        .select([...PUBLIC_COLUMNS, 'key_hash'])
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return (row as StoredKey | undefined) ?? null;
    },

    /** Marks an active key revoked; the key as it was, or null when there was no such active key. */
    async revoke(id: string): Promise<ApiKeyRecord | null> {
      const row = await db
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .returning(PUBLIC_COLUMNS)
        .executeTakeFirst();
      return (row as ApiKeyRecord | undefined) ?? null;
    },
  };
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>;
