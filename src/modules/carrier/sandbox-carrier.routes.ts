import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { refuseOtherMethods } from '../../shared/http.js';
import { fromCents } from '../../shared/money.js';
import { success } from '../../shared/openapi.js';
import type { SandboxTopUp } from './sandbox-carrier.js';

const PATH = '/SandboxCarrier/TopUps';

const SandboxTopUpSchema = Type.Object(
  {
    reference: Type.String({ description: 'The recharge id the carrier was sent' }),
    phone_number: Type.String({ examples: ['5511999999999'] }),
    value: Type.Number({ examples: [10.0] }),
    credited_at: Type.String({ format: 'date-time' }),
    reversed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When the carrier undid this credit; null while it stands',
    }),
  },
  { additionalProperties: false },
);

/** What the sandbox carrier did for a reference, from its own books (docs/api.md); CARRIER=sandbox only. */
export const sandboxCarrierRoutes: FastifyPluginAsyncTypebox<{
  topUps: (reference: string) => Promise<SandboxTopUp[]>;
}> = async (app, { topUps }) => {
  app.get(
    PATH,
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['sandbox'],
        summary: 'The credits the sandbox carrier applied for a reference (a recharge id), oldest first',
        operationId: 'listSandboxCarrierTopUps',
        querystring: Type.Object(
          {
            reference: Type.String({
              format: 'uuid',
              description: 'A recharge id',
              examples: ['0193c6f0-8a4e-7c1d-9b2f-3e5a7d9c1b42'],
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: success(Type.Array(SandboxTopUpSchema), 'One entry per credit applied; empty when none'),
        },
      },
    },
    async (request) => {
      const rows = await topUps(request.query.reference.toLowerCase());
      return rows.map((row) => ({
        reference: row.reference,
        phone_number: row.phone_number,
        value: fromCents(row.value_cents),
        credited_at: row.credited_at.toISOString(),
        reversed_at: row.reversed_at?.toISOString() ?? null,
      }));
    },
  );
  refuseOtherMethods(app, PATH, ['GET', 'HEAD']);
};
