import {
  Ajv,
  type ErrorObject,
  type KeywordDefinition,
  type Options,
  type SchemaValidateFunction,
} from 'ajv';
import addFormats from 'ajv-formats';
import { isMoneyValue, toCents } from '../shared/money.js';
import { normalizePhoneNumber } from '../shared/phone.js';
import { FORMATS } from '../shared/schemas.js';
import { boundedBodyValidator } from './validation-body.js';
import { pointerToken } from './validation-problems.js';
import { strictTextValidator } from './validation-text.js';

/**
 * `x-unique-by: "id"` on an array of objects: no two items share that property. Checked with the schema, so
 * a 400 lists a repeated id beside every other problem of the body; each repeat is named at its own path.
 */
const UNIQUE_BY: KeywordDefinition = {
  keyword: 'x-unique-by',
  type: 'array',
  schemaType: 'string',
  errors: true,
  validate: function uniqueBy(property: string, items: unknown[], _schema, context) {
    const base = context?.instancePath ?? '';
    const seen = new Map<unknown, number>();
    const errors: Partial<ErrorObject>[] = [];
    items.forEach((item, index) => {
      if (typeof item !== 'object' || item === null || !(property in item)) return;
      const value = (item as Record<string, unknown>)[property];
      const first = seen.get(value);
      if (first === undefined) seen.set(value, index);
      else
        errors.push({
          instancePath: `${base}/${index}/${pointerToken(property)}`,
          keyword: 'x-unique-by',
          params: { property },
          message: `duplicates ${base}/${first}/${pointerToken(property)}`,
        });
    });
    (uniqueBy as SchemaValidateFunction).errors = errors;
    return errors.length === 0;
  },
};

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
  ajv.addKeyword(UNIQUE_BY);
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
