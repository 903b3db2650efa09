import { type Kysely, sql } from 'kysely';
import type { DB, WebhookMessageStatus } from '../../db/database.js';
import { MAX_PREVIOUS_SECRETS } from './webhooks.schemas.js';

export type EndpointRecord = {
  id: string;
  client: string;
  url: string;
  events: string[];
  status: 'active' | 'disabled';
  created_at: Date;
};

export type MessageRecord = {
  id: string;
  endpoint_id: string;
  type: string;
  recharge_id: string;
  status: WebhookMessageStatus;
  attempts: number;
  last_response_status: number | null;
  next_attempt_at: Date | null;
  created_at: Date;
};

const ENDPOINT_COLUMNS = ['id', 'client', 'url', 'events', 'status', 'created_at'] as const;
const MESSAGE_COLUMNS = [
  'id',
  'endpoint_id',
  'type',
  'recharge_id',
  'status',
  'attempts',
  'last_response_status',
  'next_attempt_at',
  'created_at',
] as const;

type PreviousSecret = { secret: string; until: string };

/**
 * An endpoint row's rotated-out secrets that still sign, as a jsonb array: the live ones of
 * `previous_secrets`, and `previous_secret` if a revision from before that column rotated it out.
 */
const LIVE_PREVIOUS_SECRETS = sql`(
  select coalesce(jsonb_agg(live.p), '[]'::jsonb) from (
    select p from jsonb_array_elements(webhook_endpoints.previous_secrets) p
    where (p->>'until')::timestamptz > statement_timestamp()
    union all
    select jsonb_build_object('secret', webhook_endpoints.previous_secret,
                              'until', webhook_endpoints.previous_secret_until)
    where webhook_endpoints.previous_secret_until > statement_timestamp()
      and not webhook_endpoints.previous_secrets
                @> jsonb_build_array(jsonb_build_object('secret', webhook_endpoints.previous_secret))
  ) live)`;

export function createWebhookRepository(db: Kysely<DB>) {
  return {
    async countEndpoints(client: string): Promise<number> {
      const row = await db
        .selectFrom('webhook_endpoints')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('client', '=', client)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    /** Holds the client's endpoint list for the rest of the transaction (the limit of 10 per client). */
    async lockClient(client: string): Promise<void> {
      await sql`select pg_advisory_xact_lock(hashtextextended('webhooks' || chr(10) || ${client}, 0))`.execute(
        db,
      );
    },

    async insertEndpoint(endpoint: Omit<EndpointRecord, 'created_at' | 'status'> & { secret: string }) {
      return db
        .insertInto('webhook_endpoints')
        .values({ ...endpoint, status: 'active' })
        .returning(ENDPOINT_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    /** `client` null: any client's (admin). */
    async listEndpoints(client: string | null): Promise<EndpointRecord[]> {
      let query = db
        .selectFrom('webhook_endpoints')
        .select(ENDPOINT_COLUMNS)
        .orderBy('created_at')
        .orderBy('id');
      if (client !== null) query = query.where('client', '=', client);
      return query.execute();
    },

    async findEndpoint(id: string, client: string | null): Promise<EndpointRecord | null> {
      let query = db.selectFrom('webhook_endpoints').select(ENDPOINT_COLUMNS).where('id', '=', id);
      if (client !== null) query = query.where('client', '=', client);
      return (await query.executeTakeFirst()) ?? null;
    },

    /**
     * Replaces an endpoint's URL and events and makes it active; with `newSecret`, the current secret keeps
     * signing beside it until `previousUntil`, as do those rotated out before it whose day is not up. A
     * rotation that would leave more than `MAX_PREVIOUS_SECRETS` of those changes nothing: null, as for an
     * endpoint that is not there.
     */
    async replaceEndpoint(
      id: string,
      client: string | null,
      change: { url: string; events: string[]; newSecret?: string | undefined; previousUntil: Date },
    ): Promise<EndpointRecord | null> {
      let query = db
        .updateTable('webhook_endpoints')
        .set((eb) => ({
          url: change.url,
          events: change.events,
          status: 'active' as const,
          updated_at: sql<Date>`statement_timestamp()`,
          ...(change.newSecret
            ? {
                secret: change.newSecret,
                previous_secret: eb.ref('secret'),
                previous_secret_until: change.previousUntil,
                previous_secrets: sql<PreviousSecret[]>`${LIVE_PREVIOUS_SECRETS} || jsonb_build_array(
                  jsonb_build_object('secret', webhook_endpoints.secret, 'until', ${change.previousUntil}::timestamptz))`,
              }
            : {}),
        }))
        .where('id', '=', id);
      if (change.newSecret) {
        query = query.where(
          sql<boolean>`jsonb_array_length(${LIVE_PREVIOUS_SECRETS}) < ${MAX_PREVIOUS_SECRETS}`,
        );
      }
      if (client !== null) query = query.where('client', '=', client);
      return (await query.returning(ENDPOINT_COLUMNS).executeTakeFirst()) ?? null;
    },

    async deleteEndpoint(id: string, client: string | null): Promise<boolean> {
      let query = db.deleteFrom('webhook_endpoints').where('id', '=', id);
      if (client !== null) query = query.where('client', '=', client);
      return Number((await query.executeTakeFirst()).numDeletedRows) > 0;
    },

    /** Newest first, keyset-paginated on (created_at, id). */
    async listMessages(
      client: string | null,
      endpointId: string | undefined,
      limit: number,
      before?: { created_at: Date; id: string },
    ): Promise<MessageRecord[]> {
      let query = db
        .selectFrom('webhook_messages')
        .select(MESSAGE_COLUMNS)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit);
      if (client !== null) query = query.where('client', '=', client);
      if (endpointId !== undefined) query = query.where('endpoint_id', '=', endpointId);
      if (before) {
        query = query.where((eb) =>
          eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(before.created_at, before.id)),
        );
      }
      return query.execute();
    },

    /** Makes a message due now, whatever became of it; null when there is no such message. */
    async resend(id: string, client: string | null): Promise<MessageRecord | null> {
      let query = db
        .updateTable('webhook_messages')
        .set({ status: 'pending', next_attempt_at: sql<Date>`statement_timestamp()` })
        .where('id', '=', id);
      if (client !== null) query = query.where('client', '=', client);
      return (await query.returning(MESSAGE_COLUMNS).executeTakeFirst()) ?? null;
    },
  };
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>;
