import type { TSchema } from '@sinclair/typebox';
import { type AppError, ERROR_CODES } from './errors.js';
import { ProblemRef } from './schemas.js';

declare module 'fastify' {
  interface FastifySchema {
    /** The scopes the operation needs, for tools; the auth plugin sets it from the route's `config.scope`. */
    'x-required-scopes'?: readonly string[];
  }
}

/**
 * The response headers the API sends, by their canonical names. A route names the ones of its own answers
 * (`success`, `problems`); the document refers to these definitions instead of repeating them, and adds
 * the ones every answer carries (openapi-document.ts).
 */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description:
      'The id of this request, also in problem details and the logs: the X-Request-Id sent, when it is ' +
      '1–128 characters of A-Z a-z 0-9 . _ : -, else a new one',
    schema: { type: 'string', examples: ['0193c6f0-8a4e-7c1d-9b2f-3e5a7d9c1b42'] },
  },
  'RateLimit-Limit': {
    description: 'Requests allowed in the current one-minute window (per API key; per address without one)',
    schema: { type: 'integer', examples: [1200] },
  },
  'RateLimit-Remaining': {
    description: 'Requests left in the current window',
    schema: { type: 'integer', examples: [1199] },
  },
  'RateLimit-Reset': {
    description: 'Seconds until the current window ends',
    schema: { type: 'integer', examples: [42] },
  },
  'Retry-After': {
    description: 'Seconds to wait before sending the request again',
    schema: { type: 'integer', examples: [5] },
  },
  'WWW-Authenticate': {
    description: 'How to authenticate: an API key as a bearer token',
    schema: { type: 'string', examples: ['Bearer realm="recharge-api"'] },
  },
  Allow: {
    description: 'The methods the path serves',
    schema: { type: 'string', examples: ['GET, HEAD, POST'] },
  },
  Location: {
    description: 'Where the created resource is read, relative to the server',
    schema: { type: 'string', examples: ['/PhoneRecharges?id=0193c6f0-8a4e-7c1d-9b2f-3e5a7d9c1b42'] },
  },
  ETag: {
    description: 'Entity tag of what was returned: send it in If-None-Match to read, in If-Match to write',
    schema: { type: 'string', examples: ['"c42"'] },
  },
  Link: {
    description:
      'The next page, when there is one: `<URL>; rel="next"`. The cursor is only here; follow the URL as it is',
    schema: { type: 'string', examples: ['</AuditEvents?limit=20&cursor=4711>; rel="next"'] },
  },
  'Idempotent-Replayed': {
    description: 'Present when this is the first answer to the same Idempotency-Key, sent again',
    schema: { type: 'string', enum: ['true'] },
  },
  'Preference-Applied': {
    description: 'Present when a `Prefer: wait=N` was honoured: the wait applied, in seconds (at most 30)',
    schema: { type: 'string', examples: ['wait=10'] },
  },
} as const;

export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

// AppError headers are named in lower case, as Node sends them.
const CANONICAL_NAMES = new Map(
  Object.keys(RESPONSE_HEADERS).map((name) => [name.toLowerCase(), name as ResponseHeader]),
);

/** A header for a route's response schema, where @fastify/swagger reads it. */
const headerSchema = (name: ResponseHeader) => ({
  ...RESPONSE_HEADERS[name].schema,
  description: RESPONSE_HEADERS[name].description,
});

/** A success response: its body schema, what it is, and the headers it carries besides the common ones. */
export function success<T extends TSchema>(schema: T, description: string, ...headers: ResponseHeader[]): T {
  const named = Object.fromEntries(headers.map((name) => [name, headerSchema(name)]));
  return { ...schema, description, ...(headers.length > 0 ? { headers: named } : {}) };
}

export const STATUS_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Invalid request: every field problem is listed in `errors`',
  401: 'Missing, unknown or revoked API key, or a key sent in the URL',
  403: 'The key lacks the scope this operation needs',
  404: 'Not found',
  405: 'The path does not serve this method; Allow lists the ones it does',
  409: 'Conflict with the current state',
  412: 'If-Match does not match the current ETag',
  413: 'Body larger than BODY_LIMIT',
  415: 'Body is not JSON',
  422: 'Refused by a business rule; see `code`',
  429: 'Rate limited; see Retry-After',
  500: 'Unexpected error',
  503: 'Unavailable for now (overloaded, shutting down, or the database is down); see Retry-After',
};

export const EXAMPLE_REQUEST_ID = RESPONSE_HEADERS['X-Request-Id'].schema.examples[0];

/** The problem details an error is answered with (errors.ts renders the real ones the same way). */
export function problemExample(error: AppError) {
  return {
    type: 'about:blank',
    title: ERROR_CODES[error.code].title,
    status: error.status,
    code: error.code,
    detail: error.detail,
    request_id: EXAMPLE_REQUEST_ID,
    ...(error.errors ? { errors: error.errors } : {}),
  };
}

export type ProblemMedia = {
  schema: unknown;
  examples: Record<string, { summary?: string; value: ReturnType<typeof problemExample> }>;
};

export type ProblemResponse = {
  description: string;
  headers?: Record<string, object>;
  content: { 'application/problem+json': ProblemMedia };
};

/**
 * The problem responses an operation gives besides the ones every operation of its kind gives (added to the
 * document in one place): one response per status, with each error given as an example of its code and
 * its headers documented. Give the real refusals, made by the same functions the service throws with.
 */
export function problems(...errors: AppError[]): Record<number, ProblemResponse> {
  const responses: Record<number, ProblemResponse> = {};
  for (const error of errors) {
    const response = responses[error.status] ?? {
      description: STATUS_DESCRIPTIONS[error.status] ?? 'Error',
      content: { 'application/problem+json': { schema: ProblemRef, examples: {} } },
    };
    responses[error.status] = response;
    // One example per code, named by it.
    response.content['application/problem+json'].examples[error.code] = {
      summary: error.detail,
      value: problemExample(error),
    };
    // Every header an error carries is one the document defines (a test compares them with real answers).
    for (const header of Object.keys(error.headers ?? {})) {
      const name = CANONICAL_NAMES.get(header) as ResponseHeader;
      response.headers = { ...response.headers, [name]: headerSchema(name) };
    }
  }
  return responses;
}
