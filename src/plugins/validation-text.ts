import type { ErrorObject, ValidateFunction } from 'ajv';
import {
  CONTAINS_CONTROL_CHARACTERS,
  CONTROL_CHARACTER,
  pointerToken,
  problemAt,
  validatorFrom,
} from './validation-problems.js';

// Digits only: Ajv's coercion takes anything `+text` reads as a whole number ("Infinity", "1e400", "0x10",
// "1e2", " 10"), and lets an infinite one past minimum and maximum. Fifteen digits stay exact as a number.
const DIGITS = /^[0-9]{1,15}$/;
const NOT_DIGITS = 'must be a whole number of at most 15 digits 0-9';

type TextSchema = { properties?: Record<string, { type?: unknown }> };

/**
 * Checks what Ajv's coercion cannot see once it has converted the text: integer parameters written in digits
 * only, and no control characters in a query string or path parameter. Header values need no such scan:
 * Node's HTTP parser refuses control characters in them (a tab aside).
 */
export function strictTextValidator(compiled: ValidateFunction, schema: unknown, httpPart?: string) {
  const integers = Object.entries((schema as TextSchema).properties ?? {})
    .filter(([, property]) => property.type === 'integer')
    .map(([name]) => name);
  const scansText = httpPart !== 'headers';
  if (integers.length === 0 && !scansText) return compiled;

  return validatorFrom(compiled, (data, context) => {
    const problems = textProblems(data, integers, scansText);
    const valid = compiled(data, context);
    if (problems.length === 0) return valid ? null : (compiled.errors ?? []);
    // Ajv's verdict on a value refused here (often a coerced "Infinity") would only repeat or contradict it.
    const refused = new Set(problems.map((problem) => problem.instancePath));
    return [...(compiled.errors ?? []).filter((error) => !refused.has(error.instancePath)), ...problems];
  });
}

function textProblems(data: unknown, integers: string[], scansText: boolean): ErrorObject[] {
  if (data === null || typeof data !== 'object') return [];
  const values = data as Record<string, unknown>;
  const problems: ErrorObject[] = [];
  for (const name of integers) {
    const value = values[name];
    if (value !== undefined && !(typeof value === 'string' && DIGITS.test(value)))
      problems.push(problemAt(`/${pointerToken(name)}`, 'digits', NOT_DIGITS));
  }
  if (!scansText) return problems;
  for (const [name, value] of Object.entries(values)) {
    if (integers.includes(name)) continue;
    const texts: unknown[] = Array.isArray(value) ? value : [value];
    if (texts.some((text) => typeof text === 'string' && CONTROL_CHARACTER.test(text)))
      problems.push(problemAt(`/${pointerToken(name)}`, 'controlCharacters', CONTAINS_CONTROL_CHARACTERS));
  }
  return problems;
}
