import { formatCents } from './money.js';

export type FieldError = { path: string; message: string };

/** The stable, machine-readable codes of docs/api.md (Errors), each with its HTTP status and title. */
export const ERROR_CODES = {
  invalid_request: { status: 400, title: 'Bad Request' },
  unauthenticated: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not Found' },
  method_not_allowed: { status: 405, title: 'Method Not Allowed' },
  conflict: { status: 409, title: 'Conflict' },
  precondition_failed: { status: 412, title: 'Precondition Failed' },
  payload_too_large: { status: 413, title: 'Content Too Large' },
  unsupported_media_type: { status: 415, title: 'Unsupported Media Type' },
  range_not_satisfiable: { status: 416, title: 'Range Not Satisfiable' },
  unknown_company: { status: 422, title: 'Unprocessable Content' },
  unknown_product: { status: 422, title: 'Unprocessable Content' },
  value_mismatch: { status: 422, title: 'Unprocessable Content' },
  idempotency_key_reused: { status: 422, title: 'Unprocessable Content' },
  insufficient_funds: { status: 422, title: 'Unprocessable Content' },
  daily_limit_exceeded: { status: 422, title: 'Unprocessable Content' },
  phone_recently_recharged: { status: 422, title: 'Unprocessable Content' },
  webhook_url_not_allowed: { status: 422, title: 'Unprocessable Content' },
  rate_limited: { status: 429, title: 'Too Many Requests' },
  internal_error: { status: 500, title: 'Internal Server Error' },
  unavailable: { status: 503, title: 'Service Unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A refusal the caller can act on; the error handler renders it as RFC 9457 problem details. */
export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
    options?: ErrorOptions,
  ) {
    super(detail, options);
    this.status = ERROR_CODES[code].status;
  }
}

export const invalidRequest = (detail: string, errors?: FieldError[]) =>
  new AppError('invalid_request', detail, errors);

export const notFound = (detail: string) => new AppError('not_found', detail);

// One answer for a missing, malformed, unknown or revoked key: nothing tells a prober which it was.
export const unauthenticated = () =>
  new AppError(
    'unauthenticated',
    'a valid API key is required: send Authorization: Bearer <key>',
    undefined,
    {
      'www-authenticate': 'Bearer realm="recharge-api"',
    },
  );

export const keyInQueryString = () =>
  new AppError(
    'unauthenticated',
    'API keys are refused in the URL, where logs and proxies keep them: send Authorization: Bearer <key>',
    undefined,
    { 'www-authenticate': 'Bearer realm="recharge-api"' },
  );

export const forbidden = (scope: string) =>
  new AppError('forbidden', `this API key lacks the ${scope} scope`);

export const methodNotAllowed = (method: string, allow: string) =>
  new AppError('method_not_allowed', `${method} is not allowed here; allowed: ${allow}`, undefined, {
    allow,
  });

export const companyExists = (companyId: string) =>
  new AppError('conflict', `company ${companyId} already exists`);

export const companyNotFound = (companyId: string) => notFound(`company ${companyId} does not exist`);

export const preconditionFailed = (etag: string) =>
  new AppError('precondition_failed', `If-Match does not match the current ETag ${etag}`);

export const unknownCompany = (companyId: string) =>
  new AppError('unknown_company', `company ${companyId} does not exist`, [
    { path: '/company_id', message: 'unknown company' },
  ]);

export const unknownProduct = (companyId: string, productId: string) =>
  new AppError('unknown_product', `company ${companyId} has no product ${productId}`, [
    { path: '/product_id', message: 'unknown product' },
  ]);

export const valueMismatch = (productId: string, expectedCents: number, givenCents: number) =>
  new AppError(
    'value_mismatch',
    `product ${productId} costs ${formatCents(expectedCents)}, not ${formatCents(givenCents)}`,
    [{ path: '/value', message: `must be ${formatCents(expectedCents)}` }],
  );

export const idempotencyKeyReused = () =>
  new AppError(
    'idempotency_key_reused',
    'this Idempotency-Key was used for a different request; use a new key for a new recharge',
    [{ path: '/', message: 'differs from the request first sent with this key' }],
  );

export const idempotencyKeyInFlight = () =>
  new AppError(
    'conflict',
    'a request with this Idempotency-Key is still being processed; retry after it finishes',
    undefined,
    { 'retry-after': '1' },
  );

export const insufficientFunds = (detail: string) => new AppError('insufficient_funds', detail);

export const dailyLimitExceeded = () =>
  new AppError(
    'daily_limit_exceeded',
    'this recharge would take the account past its daily limit (a calendar day in America/Sao_Paulo); see GET /Accounts',
  );

export const phoneRecentlyRecharged = (retryAfterSeconds: number) =>
  new AppError(
    'phone_recently_recharged',
    `this number was recharged by this client less than the account's cooldown ago; retry in ${retryAfterSeconds} s`,
    undefined,
    { 'retry-after': String(retryAfterSeconds) },
  );

export const webhookUrlNotAllowed = (reason: string) =>
  new AppError('webhook_url_not_allowed', `the webhook URL ${reason}`, [{ path: '/url', message: reason }]);

export const conflict = (detail: string) => new AppError('conflict', detail);

/** A dependency (the database) cannot be reached; `cause` is logged, never shown. */
export const unavailable = (cause?: unknown) =>
  new AppError(
    'unavailable',
    'the service is temporarily unavailable; retry later',
    undefined,
    { 'retry-after': '5' },
    { cause },
  );
