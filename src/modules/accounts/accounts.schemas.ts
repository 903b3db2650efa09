import { type Static, Type } from '@sinclair/typebox';
import { AmountSchema, IdentifierSchema } from '../../shared/schemas.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_COOLDOWN_SECONDS = 7 * 24 * 3600;

/** A client, as the examples of the API keys name one. */
export const ClientSchema = { ...IdentifierSchema, examples: ['shop-one'] };

const Nullable = <T extends ReturnType<typeof Type.Number>>(schema: T) => Type.Union([schema, Type.Null()]);

const LimitsSchema = Type.Object(
  {
    daily_value: Nullable(
      AmountSchema({
        minimum: 0,
        description:
          'The most the accepted, not refunded recharges of one day may add up to; null or 0: none',
        examples: [500],
      }),
    ),
    daily_count: Type.Union([
      Type.Integer({
        minimum: 0,
        maximum: 10_000_000,
        description: 'The most recharges of one day; null or 0: none',
      }),
      Type.Null(),
    ]),
    same_phone_cooldown_seconds: Type.Union([
      Type.Integer({
        minimum: 0,
        maximum: MAX_COOLDOWN_SECONDS,
        description:
          'Seconds before one number may be recharged again by the same client; null or 0: no wait',
        examples: [300],
      }),
      Type.Null(),
    ]),
  },
  {
    additionalProperties: false,
    description:
      'Velocity limits, checked when a recharge is accepted; a day is a calendar day in America/Sao_Paulo',
  },
);

export const AccountSchema = Type.Object(
  {
    client: Type.String(),
    balance: Type.Number({ description: 'The sum of the ledger entries', examples: [140.0] }),
    pending: Type.Number({
      description: 'The value of the recharges pending or processing',
      examples: [10.0],
    }),
    credit_limit: Type.Union([Type.Number(), Type.Null()], {
      description: 'How far below zero the balance may go; null: no limit',
      examples: [0.0],
    }),
    available: Type.Union([Type.Number(), Type.Null()], {
      description: 'balance + credit_limit: the most a new recharge may cost; null: no limit',
      examples: [140.0],
    }),
    limits: Type.Object({
      daily_value: Type.Union([Type.Number(), Type.Null()]),
      daily_count: Type.Union([Type.Integer(), Type.Null()]),
      same_phone_cooldown_seconds: Type.Integer(),
    }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Account', additionalProperties: false, description: "A client's prepaid account, in BRL" },
);
export type Account = Static<typeof AccountSchema>;

export const AccountLimitsInputSchema = Type.Object(
  {
    credit_limit: Type.Union(
      [
        AmountSchema({
          minimum: 0,
          description: 'How far below zero the balance may go; null: no limit',
          examples: [0],
        }),
        Type.Null(),
      ],
      { description: 'How far below zero the balance may go; null: no limit' },
    ),
    limits: LimitsSchema,
  },
  {
    $id: 'AccountLimitsInput',
    additionalProperties: false,
    examples: [
      { credit_limit: 0, limits: { daily_value: 500, daily_count: 100, same_phone_cooldown_seconds: 300 } },
    ],
  },
);
export type AccountLimitsInput = Static<typeof AccountLimitsInputSchema>;

export const LedgerEntryInputSchema = Type.Object(
  {
    client: ClientSchema,
    type: Type.Union([Type.Literal('deposit'), Type.Literal('adjustment')], {
      description: 'deposit: money received, positive; adjustment: a correction either way, with a note',
    }),
    amount: AmountSchema({
      minimum: -100_000_000,
      description: 'BRL, at most two decimals; a deposit is positive, an adjustment not zero',
      examples: [100],
    }),
    note: Type.Optional(
      Type.String({ minLength: 1, maxLength: 500, description: 'Required for an adjustment' }),
    ),
  },
  {
    $id: 'LedgerEntryInput',
    additionalProperties: false,
    examples: [{ client: 'shop-one', type: 'deposit', amount: 100, note: 'wire 2291' }],
  },
);
export type LedgerEntryInput = Static<typeof LedgerEntryInputSchema>;

export const LedgerEntrySchema = Type.Object(
  {
    id: Type.String({ description: 'Increasing sequence number' }),
    client: Type.String(),
    type: Type.Union(
      ['deposit', 'adjustment', 'recharge', 'refund'].map((type) => Type.Literal(type)),
      {
        description:
          "deposit and adjustment: an operator's; recharge: the debit when a recharge is accepted (negative); " +
          'refund: when it fails or is reversed (positive)',
      },
    ),
    amount: Type.Number({ examples: [-10.0] }),
    balance_after: Type.Number({ examples: [130.0] }),
    recharge_id: Type.Union([Type.String(), Type.Null()]),
    note: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'LedgerEntry', additionalProperties: false },
);
export type LedgerEntry = Static<typeof LedgerEntrySchema>;

export const AccountQuerySchema = Type.Object(
  { client: Type.Optional(ClientSchema) },
  { additionalProperties: false },
);

export const LedgerQuerySchema = Type.Object(
  {
    client: Type.Optional(ClientSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: DEFAULT_PAGE_SIZE })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'From the Link rel="next"' })),
  },
  { additionalProperties: false },
);
