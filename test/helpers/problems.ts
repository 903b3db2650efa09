import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { ERROR_CODES, type ErrorCode } from '../../src/shared/errors.js';

export type FieldError = { path: string; message: string };
/** A problem's code, detail and field errors; `title`, where given, locks the catalog's title as well. */
export type Problem = { code: string; detail: string; errors?: FieldError[]; title?: string };

/**
 * Locks a whole problem body: RFC 9457 members, the stable code and the request id of the response. The
 * title and the status come from the error catalog (docs/api.md, Errors) for `code`; `status` must be the
 * catalog's too.
 */
export function expectProblem(response: LightMyRequestResponse, status: number, problem: Problem) {
  const entry = ERROR_CODES[problem.code as ErrorCode];
  if (entry === undefined) expect.fail(`${problem.code} is not a code of ERROR_CODES`);
  expect(status, `the status of ${problem.code} in ERROR_CODES`).toBe(entry.status);
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(response.headers['x-request-id']).toEqual(expect.any(String));
  expect(response.json()).toEqual({
    type: 'about:blank',
    title: entry.title,
    status,
    request_id: response.headers['x-request-id'],
    ...problem,
  });
}
