import type { ErrorObject, ValidateFunction } from 'ajv';
import {
  CONTAINS_CONTROL_CHARACTERS,
  CONTROL_CHARACTER,
  pointerToken,
  problemAt,
  validatorFrom,
} from './validation-problems.js';

/**
 * Above this many JSON values, an invalid body's problems are not all listed: each one listed costs CPU
 * (20,000 unknown keys cost tens of milliseconds), and no valid body comes near it (a full catalog of 1,000
 * products has about 3,000).
 */
export const MAX_CHECKED_VALUES = 5_000;

/**
 * Validates a body with `firstProblem` (Ajv stopping at the first problem), so a valid body costs one pass,
 * then lists every problem of an invalid one with `everyProblem` when it is small enough to be worth it.
 * Strings anywhere in the body, member names too, are refused with control characters.
 */
export function boundedBodyValidator(firstProblem: ValidateFunction, everyProblem: ValidateFunction) {
  return validatorFrom(firstProblem, (data) => {
    if (firstProblem(data)) {
      // A valid body is as small as its schema allows, so this walk is bounded too.
      const scan = scanBody(data, Number.POSITIVE_INFINITY);
      return scan.hasControlCharacters ? controlProblems(data) : null;
    }
    const scan = scanBody(data, MAX_CHECKED_VALUES);
    if (scan.isTooLarge) {
      const tooLarge = `has more than ${MAX_CHECKED_VALUES} JSON values: only its first problem is listed`;
      return [...(firstProblem.errors ?? []), problemAt('', 'maxValues', tooLarge)];
    }
    everyProblem(data);
    return [...(everyProblem.errors ?? []), ...(scan.hasControlCharacters ? controlProblems(data) : [])];
  });
}

/** Counts values up to `limit` and looks for control characters, without recursion (nesting is unbounded). */
function scanBody(body: unknown, limit: number) {
  const pending: unknown[] = [body];
  let count = 1;
  let hasControlCharacters = false;
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (!hasControlCharacters && CONTROL_CHARACTER.test(value)) hasControlCharacters = true;
    } else if (Array.isArray(value)) {
      for (const item of value) {
        pending.push(item);
        count += 1;
        if (count > limit) return { isTooLarge: true, hasControlCharacters };
      }
    } else if (value !== null && typeof value === 'object') {
      for (const name in value) {
        if (!hasControlCharacters && CONTROL_CHARACTER.test(name)) hasControlCharacters = true;
        pending.push((value as Record<string, unknown>)[name]);
        count += 1;
        if (count > limit) return { isTooLarge: true, hasControlCharacters };
      }
    }
  }
  return { isTooLarge: false, hasControlCharacters };
}

/** Where the control characters are, in document order; run only once scanBody found some. */
function controlProblems(body: unknown): ErrorObject[] {
  const problems: ErrorObject[] = [];
  const pending: [value: unknown, path: string][] = [[body, '']];
  while (pending.length > 0) {
    const [value, path] = pending.pop() as [unknown, string];
    if (typeof value === 'string') {
      if (CONTROL_CHARACTER.test(value))
        problems.push(problemAt(path, 'controlCharacters', CONTAINS_CONTROL_CHARACTERS));
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      if (!Array.isArray(value) && entries.some(([name]) => CONTROL_CHARACTER.test(name)))
        problems.push(
          problemAt(path, 'controlCharacters', 'must not have member names with control characters'),
        );
      for (const [name, member] of entries.reverse()) pending.push([member, `${path}/${pointerToken(name)}`]);
    }
  }
  return problems;
}
