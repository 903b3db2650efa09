import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  422: 'Unprocessable Content',
};

export type FieldError = { path: string; message: string };
export type Problem = { code: string; detail: string; errors?: FieldError[] };

/** Locks a whole problem body: RFC 9457 members, the stable code and the request id of the response. */
export function expectProblem(response: LightMyRequestResponse, status: number, problem: Problem) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(response.json()).toEqual({
    type: 'about:blank',
    title: TITLES[status],
    status,
    request_id: response.headers['x-request-id'],
    ...problem,
  });
}

/** An API key as POST /ApiKeys answers it, the plain key included. */
export type CreatedKey = {
  id: string;
  name: string;
  client: string;
  scopes: string[];
  created_at: string;
  key: string;
};
