import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { pageOf } from '../../shared/cursor.js';
import { refuseOtherMethods } from '../../shared/http.js';
import { success } from '../../shared/openapi.js';
import type { AuditEvent, AuditRepository } from './audit.repository.js';

const PATH = '/AuditEvents';
const DEFAULT_PAGE_SIZE = 100;

const AuditEventSchema = Type.Object(
  {
    id: Type.String({ description: 'Increasing sequence number' }),
    occurred_at: Type.String({ format: 'date-time' }),
    actor_key_id: Type.String({ description: 'The API key that made the change' }),
    actor_client: Type.String(),
    action: Type.String({ examples: ['catalog.replace', 'api_key.revoke'] }),
    target: Type.String({ description: 'company_id or API key id' }),
    before: Type.Unknown({ description: 'The state before (catalog values in integer cents), or null' }),
    after: Type.Unknown({ description: 'The state after, or null' }),
  },
  { $id: 'AuditEvent', additionalProperties: false },
);

const QuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: DEFAULT_PAGE_SIZE })),
    // At most 18 digits: always within bigint, so a forged cursor is a 400 rather than a database error.
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: 'From the Link rel="next"' })),
  },
  { additionalProperties: false },
);

/** The append-only audit trail of catalog writes and key changes, newest first; admin only. */
export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditRepository }> = async (app, { audit }) => {
  app.addSchema(AuditEventSchema);
  app.get(
    PATH,
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'The audit trail, newest first (admin)',
        operationId: 'listAuditEvents',
        querystring: QuerySchema,
        response: { 200: success(Type.Array(Type.Ref(AuditEventSchema)), 'A page of events', 'Link') },
      },
    },
    async (request, reply) => {
      const { limit = DEFAULT_PAGE_SIZE, cursor } = request.query;
      const { items, last } = pageOf(await audit.list(limit + 1, cursor), limit);
      // The cursor is the last id itself: the query schema above is what refuses a bad one.
      if (last) reply.header('link', `<${PATH}?limit=${limit}&cursor=${last.id}>; rel="next"`);
      return items.map(toApi);
    },
  );
  refuseOtherMethods(app, PATH, ['GET', 'HEAD']);
};

function toApi(event: AuditEvent) {
  return { ...event, occurred_at: event.occurred_at.toISOString() };
}
