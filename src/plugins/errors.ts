import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  AppError,
  ERROR_CODES,
  type ErrorCode,
  type FieldError,
  methodNotAllowed,
} from '../shared/errors.js';
import { allowedMethodsOf } from '../shared/http.js';
import { FORMATS, type Problem } from '../shared/schemas.js';

type ValidationIssue = NonNullable<FastifyError['validation']>[number];

// Every client error status a library of the stack raises has its code (@fastify/send: 403, 412, 416).
const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'invalid_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  429: 'rate_limited',
  503: 'unavailable',
};

/** The most problems a 400 lists; its detail counts the rest, and the answer stays small. */
export const MAX_LISTED_PROBLEMS = 20;

const PART_NAMES: Record<string, string> = {
  body: 'the body is',
  querystring: 'the query string is',
  headers: 'the headers are',
  params: 'the path parameters are',
};

const FORMAT_MESSAGES: Record<string, string> = {
  [FORMATS.money]: 'must be an amount from 0.01 to 10000 with at most two decimal places',
  [FORMATS.amount]: 'must be an amount with at most two decimal places',
  [FORMATS.phoneNumber]: 'must be a Brazilian mobile number: 55, a DDD and nine digits starting with 9',
};

/** Renders every failure as RFC 9457 problem details (docs/api.md); nothing internal reaches the client. */
export const errorsPlugin = fp(
  async (app: FastifyInstance, { bodyLimitBytes }: { bodyLimitBytes: number }) => {
    // Fastify's own words for these are terse ("Unsupported Media Type"); say what the caller should do.
    const clientErrorDetails: Record<string, string> = {
      FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the body must be JSON: send Content-Type: application/json',
      FST_ERR_CTP_BODY_TOO_LARGE: `the body is larger than the limit of ${bodyLimitBytes} bytes`,
    };

    app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
      if (error instanceof AppError) {
        if (error.cause) request.log.warn({ err: error.cause }, error.detail);
        return sendProblem(request, reply, error);
      }
      if (error.validation) {
        const errors = error.validation.slice(0, MAX_LISTED_PROBLEMS).map(toFieldError);
        const unlisted = error.validation.length - errors.length;
        const part = PART_NAMES[error.validationContext ?? ''] ?? 'the request is';
        const detail =
          unlisted > 0 ? `${part} invalid; ${unlisted} more problems are not listed` : `${part} invalid`;
        return sendProblem(request, reply, new AppError('invalid_request', detail, errors));
      }
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) {
        // A client error from Fastify or a library (bad JSON, media type, size, a file path refused by the
        // static files' send), with a message written for callers; one without a code of its own is a 400.
        const code = CODE_BY_STATUS[status];
        if (!code) request.log.warn({ err: error }, 'client error without a code of its own');
        // Such as the Content-Range that a 416 names the file's length in.
        const { headers } = error as { headers?: Record<string, string> };
        if (headers) reply.headers(headers);
        const detail = clientErrorDetails[error.code] ?? error.message;
        return sendProblem(request, reply, new AppError(code ?? 'invalid_request', detail));
      }
      request.log.error({ err: error }, 'unexpected error');
      return sendProblem(request, reply, new AppError('internal_error', 'an unexpected error occurred'));
    });

    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0] ?? '';
      const allow = allowedMethodsOf(request.server, path);
      const error = allow
        ? methodNotAllowed(request.method, allow)
        : new AppError('not_found', `no route for ${request.method} ${path}`);
      return sendProblem(request, reply, error);
    });
  },
);

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  const problem: Problem = {
    type: 'about:blank',
    title: ERROR_CODES[error.code].title,
    status: error.status,
    code: error.code,
    detail: error.detail,
    request_id: request.id,
    ...(error.errors ? { errors: error.errors } : {}),
  };
  if (error.headers) reply.headers(error.headers);
  // Even where the route's answers may be kept (the catalog), a refusal is for this request only.
  reply.header('cache-control', 'no-store');
  return reply.code(error.status).type('application/problem+json; charset=utf-8').send(problem);
}

function toFieldError(issue: ValidationIssue): FieldError {
  const base = issue.instancePath || '';
  const params = issue.params as Record<string, unknown>;
  if (issue.keyword === 'required') {
    return { path: `${base}/${String(params.missingProperty)}`, message: 'is required' };
  }
  if (issue.keyword === 'additionalProperties') {
    return { path: `${base}/${String(params.additionalProperty)}`, message: 'is not allowed' };
  }
  if (issue.keyword === 'enum') {
    return { path: base || '/', message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
  }
  const format = issue.keyword === 'format' ? FORMAT_MESSAGES[String(params.format)] : undefined;
  return { path: base || '/', message: format ?? issue.message ?? 'is invalid' };
}
