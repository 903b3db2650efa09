import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import { isMoneyValue, toCents } from '../shared/money.js';
import { normalizePhoneNumber } from '../shared/phone.js';
import { FORMATS } from '../shared/schemas.js';
import { boundedBodyValidator } from './validation-body.js';
import { strictTextValidator } from './validation-text.js';

export function createAjv(coerceTypes: Options['coerceTypes'], allErrors = true) {
  const ajv = new Ajv({
    allErrors, // true: a 400 lists every field problem, not only the first
    removeAdditional: false, // unknown fields are refused, never silently dropped
    useDefaults: true,
    coerceTypes,
    strict: true,
    keywords: ['example'],
  });
  addFormats.default(ajv, ['date-time', 'uuid']);
  ajv.addFormat(FORMATS.money, { type: 'number', validate: isMoneyValue });
  ajv.addFormat(FORMATS.amount, { type: 'number', validate: (value) => toCents(value) !== null });
  ajv.addFormat(FORMATS.phoneNumber, {
    type: 'string',
    validate: (text) => normalizePhoneNumber(text) !== null,
  });
  return ajv;
}

/**
 * Bodies are JSON and keep their types (`"10"` is not a value): one validator finds whether a body is valid,
 * stopping at its first problem, and another lists every problem of an invalid one. Query strings, headers
 * and path parameters arrive as text and are coerced to the schema's types, integers from digits only.
 */
export function buildValidatorCompiler(externalSchemas: Record<string, unknown>) {
  const firstProblem = createAjv(false, false);
  const everyProblem = createAjv(false);
  const coercing = createAjv('array');
  for (const schema of Object.values(externalSchemas)) {
    for (const ajv of [firstProblem, everyProblem, coercing]) ajv.addSchema(schema as object);
  }
  return ({ schema, httpPart }: { schema: unknown; httpPart?: string }) =>
    httpPart === 'body'
      ? boundedBodyValidator(firstProblem.compile(schema as object), everyProblem.compile(schema as object))
      : strictTextValidator(coercing.compile(schema as object), schema, httpPart);
}
