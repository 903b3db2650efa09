import type { ErrorObject, ValidateFunction } from 'ajv';

/** C0 controls and DEL: PostgreSQL refuses NUL in text, and no field of the API has a use for the others. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job.
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

export const CONTAINS_CONTROL_CHARACTERS = 'must not contain control characters';

/** A problem in the shape Ajv reports, so the error handler lists it beside Ajv's own. */
export function problemAt(instancePath: string, keyword: string, message: string): ErrorObject {
  return { instancePath, schemaPath: '', keyword, params: {}, message };
}

/** One JSON Pointer (RFC 6901) reference token, as Ajv writes them in instancePath. */
export function pointerToken(name: string | number): string {
  return String(name).replaceAll('~', '~0').replaceAll('/', '~1');
}

type Check = (data: unknown, context?: Parameters<ValidateFunction>[1]) => ErrorObject[] | null;

/**
 * A validate function as Fastify expects one from Ajv: `check` answers the problems (null: valid). It keeps
 * the compiled one's schemaEnv, for which Fastify passes the parent that Ajv needs to coerce a root value.
 */
export function validatorFrom(compiled: ValidateFunction, check: Check): ValidateFunction {
  const validate = (data: unknown, context?: Parameters<ValidateFunction>[1]) => {
    validate.errors = check(data, context);
    return validate.errors === null;
  };
  validate.errors = null as ErrorObject[] | null;
  validate.schema = compiled.schema;
  validate.schemaEnv = compiled.schemaEnv;
  return validate as ValidateFunction;
}
