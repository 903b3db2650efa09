import { type Static, Type } from '@sinclair/typebox';
import { IdentifierSchema, MoneySchema, PhoneNumberSchema } from '../../shared/schemas.js';

export const MAX_PAGE_SIZE = 500;

export const RECHARGE_STATUSES = ['pending', 'processing', 'completed', 'failed', 'reversed'] as const;
export const FAILURE_CODES = [
  'invalid_number',
  'barred_number',
  'carrier_declined',
  'carrier_unavailable',
  'carrier_reversed',
] as const;
export const DEFAULT_PAGE_SIZE = 100;

export const RechargeInputSchema = Type.Object(
  {
    company_id: IdentifierSchema,
    product_id: { ...IdentifierSchema, examples: ['claro_10'] },
    phone_number: PhoneNumberSchema,
    value: MoneySchema,
  },
  {
    $id: 'RechargeInput',
    additionalProperties: false,
    description: "A top-up to make; value must equal the product's current value",
    // A product of the demo catalog, at its price: sent as it is, it makes a recharge.
    examples: [
      { company_id: 'claro_11', product_id: 'claro_10', phone_number: '5511999999999', value: 10.0 },
    ],
  },
);
export type RechargeInput = Static<typeof RechargeInputSchema>;

export const RechargeSchema = Type.Object(
  {
    id: Type.String({ description: 'Opaque, unguessable id (UUIDv7)' }),
    created_at: Type.String({ format: 'date-time', description: 'UTC, milliseconds, set by the server' }),
    company_id: Type.String(),
    product_id: Type.String(),
    phone_number: Type.String({ description: 'Digits only', examples: ['5511999999999'] }),
    value: Type.Number({ examples: [10.0] }),
    status: Type.Union(
      RECHARGE_STATUSES.map((status) => Type.Literal(status)),
      {
        description:
          'pending: paid, not yet sent; processing: sent, outcome not known yet; completed: credited; ' +
          'failed: refused or undeliverable, refunded; reversed: the carrier undid the credit, refunded',
        examples: ['completed'],
      },
    ),
    updated_at: Type.String({ format: 'date-time', description: 'When status last changed' }),
    failure_code: Type.Union([...FAILURE_CODES.map((code) => Type.Literal(code)), Type.Null()], {
      description: 'Why it failed or was reversed; null otherwise',
      examples: [null],
    }),
  },
  { $id: 'Recharge', additionalProperties: false },
);
export type Recharge = Static<typeof RechargeSchema>;

export const RechargeQuerySchema = Type.Object(
  {
    id: Type.Optional(Type.String({ description: 'A recharge id; exactly one of id and phone_number' })),
    phone_number: Type.Optional(PhoneNumberSchema),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_PAGE_SIZE,
        default: DEFAULT_PAGE_SIZE,
        description: 'Page size for phone_number',
      }),
    ),
    cursor: Type.Optional(
      Type.String({
        maxLength: 256,
        description: 'Opaque; copy it from the Link rel="next" of the previous page',
      }),
    ),
  },
  { additionalProperties: false },
);
