import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import { isMoneyValue } from '../shared/money.js';
import { normalizePhoneNumber } from '../shared/phone.js';
import { FORMATS } from '../shared/schemas.js';

export function createAjv(coerceTypes: Options['coerceTypes']) {
  const ajv = new Ajv({
    allErrors: true, // a 400 lists every field problem, not only the first
    removeAdditional: false, // unknown fields are refused, never silently dropped
    useDefaults: true,
    coerceTypes,
    strict: true,
    keywords: ['example'],
  });
  addFormats.default(ajv, ['date-time', 'uuid']);
  ajv.addFormat(FORMATS.money, { type: 'number', validate: isMoneyValue });
  ajv.addFormat(FORMATS.phoneNumber, {
    type: 'string',
    validate: (text) => normalizePhoneNumber(text) !== null,
  });
  return ajv;
}

/**
 * Two validators: bodies are JSON and keep their types (`"10"` is not a value), while query strings and
 * headers arrive as text and are coerced to the schema's types.
 */
export function buildValidatorCompiler(externalSchemas: Record<string, unknown>) {
  const strictAjv = createAjv(false);
  const coercingAjv = createAjv('array');
  for (const schema of Object.values(externalSchemas)) {
    strictAjv.addSchema(schema as object);
    coercingAjv.addSchema(schema as object);
  }
  return ({ schema, httpPart }: { schema: unknown; httpPart?: string }) =>
    (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema as object);
}
