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

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'invalid_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

const PART_NAMES: Record<string, string> = {
  body: 'the body is',
  querystring: 'the query string is',
  headers: 'the headers are',
  params: 'the path parameters are',
};

const FORMAT_MESSAGES: Record<string, string> = {
  [FORMATS.money]: 'must be an amount from 0.01 to 10000 with at most two decimal places',
  [FORMATS.phoneNumber]: 'must be a Brazilian mobile number: 55, a DDD and nine digits starting with 9',
};

/** Renders every failure as RFC 9457 problem details (SPEC §4); nothing internal reaches the client. */
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
        const errors = error.validation.map(toFieldError);
        const part = PART_NAMES[error.validationContext ?? ''] ?? 'the request is';
        return sendProblem(request, reply, new AppError('invalid_request', `${part} invalid`, errors));
      }
      const status = error.statusCode ?? 500;
      const code = CODE_BY_STATUS[status];
      if (status >= 400 && status < 500 && code) {
        // Fastify's own client errors (bad JSON, media type, size) carry messages written for callers.
        return sendProblem(
          request,
          reply,
          new AppError(code, clientErrorDetails[error.code] ?? error.message),
        );
      }
      request.log.error({ err: error }, 'unexpected error');
      return sendProblem(request, reply, new AppError('internal_error', 'an unexpected error occurred'));
    });

    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0] ?? '';
      const allow = allowedMethodsOf(path);
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
