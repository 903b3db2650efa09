import { type Static, Type } from '@sinclair/typebox';
import { IdentifierSchema, MoneySchema, PhoneNumberSchema, problemResponses } from '../../shared/schemas.js';

export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 100;

export const RechargeInputSchema = Type.Object(
  {
    company_id: IdentifierSchema,
    product_id: IdentifierSchema,
    phone_number: PhoneNumberSchema,
    value: MoneySchema,
  },
  {
    $id: 'RechargeInput',
    additionalProperties: false,
    description: "A top-up to make; value must equal the product's current value",
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
        description: `Page size for phone_number, default ${DEFAULT_PAGE_SIZE}`,
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

export const rechargeErrors = problemResponses(400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503);
