import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { principalOf, visibleClient } from '../../shared/access.js';
import { invalidRequest } from '../../shared/errors.js';
import { refuseOtherMethods } from '../../shared/http.js';
import { fromCents } from '../../shared/money.js';
import { moneyToCents } from '../../shared/schemas.js';
import type { RechargeRecord } from './recharges.repository.js';
import {
  DEFAULT_PAGE_SIZE,
  type Recharge,
  RechargeInputSchema,
  RechargeQuerySchema,
  RechargeSchema,
  rechargeErrors,
} from './recharges.schemas.js';
import type { RechargeService } from './recharges.service.js';

const PATH = '/PhoneRecharges';
const RechargeRef = Type.Ref(RechargeSchema);

export const rechargeRoutes: FastifyPluginAsyncTypebox<{ service: RechargeService }> = async (
  app,
  { service },
) => {
  app.post(
    PATH,
    {
      config: { scope: 'recharges:write' },
      schema: {
        tags: ['recharges'],
        summary: 'Make a recharge',
        body: Type.Ref(RechargeInputSchema),
        response: { 201: RechargeRef, ...rechargeErrors },
      },
    },
    async (request, reply) => {
      const { value, ...rest } = request.body;
      const recharge = await service.createRecharge(
        { ...rest, value_cents: moneyToCents(value, '/value') },
        principalOf(request).client,
      );
      reply.code(201).header('location', `${PATH}?id=${recharge.id}`);
      return toApi(recharge);
    },
  );

  app.get(
    PATH,
    {
      config: { scope: 'recharges:read' },
      schema: {
        tags: ['recharges'],
        summary: 'One recharge by ?id, or a phone number’s recharges by ?phone_number (oldest first)',
        querystring: RechargeQuerySchema,
        response: {
          200: Type.Union([RechargeRef, Type.Array(RechargeRef)]),
          ...rechargeErrors,
        },
      },
    },
    async (request, reply) => {
      const { id, phone_number: phoneNumber, limit = DEFAULT_PAGE_SIZE, cursor } = request.query;
      if (id !== undefined && phoneNumber === undefined)
        return toApi(await service.getRecharge(id, visibleClient(principalOf(request))));
      if (phoneNumber === undefined || id !== undefined) {
        throw invalidRequest('give exactly one of id and phone_number', [
          { path: '/', message: 'exactly one of id and phone_number is required' },
        ]);
      }
      const page = await service.listByPhoneNumber(
        phoneNumber,
        visibleClient(principalOf(request)),
        limit,
        cursor,
      );
      if (page.nextCursor) {
        const next = `${PATH}?phone_number=${page.phoneNumber}&limit=${limit}&cursor=${page.nextCursor}`;
        reply.header('link', `<${next}>; rel="next"`);
      }
      return page.items.map(toApi);
    },
  );

  refuseOtherMethods(app, PATH, ['GET', 'HEAD', 'POST']);
};

function toApi(recharge: RechargeRecord): Recharge {
  return {
    id: recharge.id,
    created_at: recharge.created_at.toISOString(),
    company_id: recharge.company_id,
    product_id: recharge.product_id,
    phone_number: recharge.phone_number,
    value: fromCents(recharge.value_cents),
  };
}
