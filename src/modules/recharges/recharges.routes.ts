import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { principalOf, visibleClient } from '../../shared/access.js';
import {
  dailyLimitExceeded,
  idempotencyKeyInFlight,
  idempotencyKeyReused,
  insufficientFunds,
  invalidRequest,
  notFound,
  phoneRecentlyRecharged,
  unknownCompany,
  unknownProduct,
  valueMismatch,
} from '../../shared/errors.js';
import { refuseOtherMethods } from '../../shared/http.js';
import { fromCents } from '../../shared/money.js';
import { problems, success } from '../../shared/openapi.js';
import { preferredWaitSeconds } from '../../shared/prefer.js';
import { moneyToCents } from '../../shared/schemas.js';
import type { RechargeRecord } from './recharges.repository.js';
import {
  DEFAULT_PAGE_SIZE,
  type Recharge,
  RechargeInputSchema,
  RechargeQuerySchema,
  RechargeSchema,
} from './recharges.schemas.js';
import type { RechargeService } from './recharges.service.js';

const PATH = '/PhoneRecharges';

const IDEMPOTENCY_DESCRIPTION = [
  'Send `Idempotency-Key` (1–255 printable ASCII characters other than `"`; the quoted form `"abc"` means `abc`) to make',
  'retries safe. Keys belong to your client and are kept at least 24 hours. Only a 201 binds a key: a refused',
  'request leaves it free for a corrected retry. The same key with the same body returns the first 201 and',
  'recharge with `Idempotent-Replayed: true`; with a different body, 422 `idempotency_key_reused`; while the',
  'first is still being processed, 409 with `Retry-After`.',
].join(' ');

// 1–255 printable ASCII characters, no double quote, no space at either end; the draft's structured-field
// form is the same in double quotes, and a bare key is accepted as well. A stray quote is refused rather
// than kept as part of the key: `"abc` and `"abc"` would otherwise be two keys for what the client meant
// as one, and its retry would be a second recharge.
const KEY = '[!#-~](?:[ !#-~]{0,253}[!#-~])?';
const IDEMPOTENCY_KEY_PATTERN = `^(?:${KEY}|"${KEY}")$`;
const IDEMPOTENCY_KEY = new RegExp(IDEMPOTENCY_KEY_PATTERN);

const WAIT_DESCRIPTION = [
  'Without `Prefer`, the answer comes as soon as the recharge is stored and paid for (`pending`). With',
  '`Prefer: wait=N` (N 1–30; more counts as 30) it comes when the recharge is final or after N seconds,',
  'whichever is first, with its status then, still 201, and `Preference-Applied: wait=N`. A malformed',
  'preference is ignored.',
].join(' ');

/** The Idempotency-Key header of a POST that honours it. */
export const IdempotencyKeyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description: 'Makes retries safe; see the operation description',
      examples: ['order-4711'],
    }),
  ),
});

const PostHeaders = Type.Object({
  prefer: Type.Optional(
    Type.String({ description: 'wait=N: answer when final or after N seconds', examples: ['wait=10'] }),
  ),
  ...IdempotencyKeyHeaders.properties,
});

/** The key an Idempotency-Key header gives, without its quotes; a bad one is a 400 that says what a key is. */
export function unquoteIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(header)) {
    throw invalidRequest(
      'Idempotency-Key must be 1–255 printable ASCII characters other than a double quote',
      [
        {
          path: '/idempotency-key',
          message: 'must be 1–255 printable ASCII characters but ", optionally in double quotes',
        },
      ],
    );
  }
  return header.startsWith('"') ? header.slice(1, -1) : header;
}
const RechargeRef = Type.Ref(RechargeSchema);

export const rechargeRoutes: FastifyPluginAsyncTypebox<{ service: RechargeService }> = async (
  app,
  { service },
) => {
  app.post(
    PATH,
    {
      config: { scope: 'recharges:write', sellsCredit: true },
      schema: {
        tags: ['recharges'],
        summary: 'Make a recharge, once: retries with the same Idempotency-Key return the first result',
        operationId: 'createPhoneRecharge',
        description: `${IDEMPOTENCY_DESCRIPTION}\n\n${WAIT_DESCRIPTION}`,
        headers: PostHeaders,
        body: Type.Ref(RechargeInputSchema),
        response: {
          201: success(
            RechargeRef,
            'The recharge made (or, replayed, as it is now)',
            'Location',
            'Idempotent-Replayed',
            'Preference-Applied',
          ),
          ...problems(
            idempotencyKeyInFlight(),
            unknownCompany('vivo_11'),
            unknownProduct('claro_11', 'claro_15'),
            valueMismatch('claro_10', 1000, 1500),
            idempotencyKeyReused(),
            insufficientFunds('the account of shop_a cannot pay 10.00; see GET /Accounts'),
            dailyLimitExceeded(),
            phoneRecentlyRecharged(300),
          ),
        },
      },
      // Before the schema's pattern, which is the same rule: a bad key gets this one message, not Ajv's.
      preValidation: (request, _reply, done) => {
        unquoteIdempotencyKey(request.headers['idempotency-key']);
        done();
      },
    },
    async (request, reply) => {
      const { value, ...rest } = request.body;
      const created = await service.createRecharge(
        { ...rest, value_cents: moneyToCents(value, '/value') },
        principalOf(request).client,
        unquoteIdempotencyKey(request.headers['idempotency-key']),
      );
      let { recharge } = created;
      const waitSeconds = preferredWaitSeconds(request.headers.prefer);
      if (waitSeconds !== undefined) {
        recharge = await service.awaitOutcome(recharge, waitSeconds);
        reply.header('preference-applied', `wait=${waitSeconds}`);
      }
      reply.code(201).header('location', `${PATH}?id=${recharge.id}`);
      if (created.replayed) reply.header('idempotent-replayed', 'true');
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
        operationId: 'listPhoneRecharges',
        querystring: RechargeQuerySchema,
        response: {
          200: success(
            Type.Union([RechargeRef, Type.Array(RechargeRef)]),
            'The recharge of ?id, or a page of the recharges of ?phone_number',
            'Link',
          ),
          ...problems(notFound('no such recharge')),
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

export function toApi(recharge: RechargeRecord): Recharge {
  return {
    id: recharge.id,
    created_at: recharge.created_at.toISOString(),
    company_id: recharge.company_id,
    product_id: recharge.product_id,
    phone_number: recharge.phone_number,
    value: fromCents(recharge.value_cents),
    status: recharge.status,
    updated_at: recharge.updated_at.toISOString(),
    failure_code: recharge.failure_code,
  };
}
