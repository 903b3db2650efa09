import { type Static, Type } from '@sinclair/typebox';
import { invalidRequest } from './errors.js';
import { toCents } from './money.js';

/** Custom Ajv formats; registered on the validators in app.ts, so schema and rule are one thing. */
export const FORMATS = {
  money: 'money',
  /** Any amount with at most two decimals; a schema's minimum and maximum give its range. */
  amount: 'amount',
  phoneNumber: 'br-mobile-phone',
} as const;

export const IdentifierSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_-]+$',
  description: '1–64 characters of A-Z a-z 0-9 _ -, case-sensitive',
  examples: ['claro_11'],
});

export const MoneySchema = Type.Number({
  format: FORMATS.money,
  minimum: 0.01,
  maximum: 10000,
  description: 'BRL amount, 0.01–10000 with at most two decimal places; handled as integer cents',
  examples: [10.0],
});

/** The largest amount an account's figures take: 100 000 000.00. */
export const MAX_ACCOUNT_AMOUNT = 100_000_000;

export const AmountSchema = (options: { minimum: number; description: string; examples: number[] }) =>
  Type.Number({ format: FORMATS.amount, maximum: MAX_ACCOUNT_AMOUNT, ...options });

export const PhoneNumberSchema = Type.String({
  format: FORMATS.phoneNumber,
  maxLength: 32,
  description:
    'Brazilian mobile number: 55, a real DDD, then nine digits starting with 9. ' +
    'A leading + and the separators space - . ( ) are accepted; stored and returned as digits only',
  examples: ['5511999999999'],
});

export const FieldErrorSchema = Type.Object({ path: Type.String(), message: Type.String() });

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ examples: ['about:blank'] }),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({
      description: 'Stable and machine-readable; each operation lists the codes of its statuses',
    }),
    detail: Type.String(),
    request_id: Type.String(),
    errors: Type.Optional(Type.Array(FieldErrorSchema)),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);
export type Problem = Static<typeof ProblemSchema>;

export const ProblemRef = Type.Ref(ProblemSchema);

/** Integer cents of a validated money field; refuses, rather than rounds, anything the format let through. */
export function moneyToCents(value: number, path: string): number {
  const cents = toCents(value);
  if (cents === null)
    throw invalidRequest('value is not an amount of money', [{ path, message: 'must be money' }]);
  return cents;
}
