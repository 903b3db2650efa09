import { SCOPES } from '../shared/access.js';
import {
  AppError,
  forbidden,
  methodNotAllowed as notAllowed,
  unauthenticated,
  unavailable,
} from '../shared/errors.js';
import { type ProblemResponse, problems, RESPONSE_HEADERS } from '../shared/openapi.js';

type Header = { $ref: string } | { description?: string; schema?: object };
type Response = { description: string; headers?: Record<string, Header>; content?: Record<string, unknown> };
type Operation = {
  operationId?: string;
  security?: Record<string, string[]>[];
  requestBody?: unknown;
  parameters?: { in: string }[];
  responses: Record<string, Response>;
  'x-required-scopes'?: string[];
};
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: {
    securitySchemes: Record<string, { description: string }>;
    headers?: Record<string, Header>;
    responses?: Record<string, Response>;
  };
};

export type DocumentOptions = { bodyLimitBytes: number; securityScheme: string };

const RATE_LIMIT_HEADERS = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'] as const;
const headerRef = (name: string): Header => ({ $ref: `#/components/headers/${name}` });

/**
 * Finishes the document @fastify/swagger builds from the routes, in one place, from what each operation
 * declares (its scope, body and parameters):
 *
 * - the refusals every operation of its kind can give, with an example of the code each status has: keyed
 *   ones 401 and 403, ones that read a body 400, 413 and 415, ones with query parameters 400, and all 429,
 *   500 and 503 (nothing answers a GET with 413, nor a public route with 401);
 * - the headers of each answer, as references to `components.headers`: X-Request-Id on every one,
 *   RateLimit-* on every one the limits counted (all but 401), Retry-After on 429 and 503,
 *   WWW-Authenticate on 401;
 * - the 405 that every path gives to the methods it does not serve, which belongs to no operation;
 * - the scopes, named in the bearer scheme's description with the operations each allows.
 */
export function completeDocument<T>(document: T, options: DocumentOptions): T {
  const doc = document as Document;
  const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
  for (const operation of operations) completeOperation(operation, options);

  doc.components.headers = Object.fromEntries(
    Object.entries(RESPONSE_HEADERS).map(([name, { description, schema }]) => [
      name,
      { description, schema },
    ]),
  );
  const methodNotAllowed = documented([notAllowed('PATCH', 'GET, HEAD')])[405] as Response;
  doc.components.responses = { MethodNotAllowed: withCommonHeaders(405, methodNotAllowed) };
  // docs.ts declares the scheme; its description gains the scopes.
  const scheme = doc.components.securitySchemes[options.securityScheme] as { description: string };
  scheme.description = `${scheme.description}\n\n${scopeList(operations)}`;
  return document;
}

function completeOperation(operation: Operation, { bodyLimitBytes }: DocumentOptions) {
  const scope = operation['x-required-scopes']?.[0];
  const takesBody = operation.requestBody !== undefined;
  const takesParameters = (operation.parameters ?? []).some((p) => p.in === 'query' || p.in === 'path');
  const errors: AppError[] = [];
  if (takesBody) errors.push(invalid('the body is invalid', '/', 'must be object'));
  else if (takesParameters) errors.push(invalid('the query string is invalid', '/x', 'is not allowed'));
  if (scope) errors.push(unauthenticated(), forbidden(scope));
  if (takesBody) {
    errors.push(
      new AppError('payload_too_large', `the body is larger than the limit of ${bodyLimitBytes} bytes`),
      new AppError('unsupported_media_type', 'the body must be JSON: send Content-Type: application/json'),
    );
  }
  const caller = scope ? 'this API key' : 'without an API key, this address';
  errors.push(
    new AppError('rate_limited', `${caller} may send 1200 requests a minute; retry in 42 s`, undefined, {
      'retry-after': '42',
    }),
    new AppError('internal_error', 'an unexpected error occurred'),
    unavailable(),
  );
  // A route declares the statuses only it gives (404, 409, 412, 422); the common ones come from here.
  const responses: Record<string, Response> = { ...documented(errors), ...operation.responses };
  operation.responses = Object.fromEntries(
    Object.entries(responses)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, response]) => [status, withCommonHeaders(Number(status), response)]),
  );
}

function invalid(detail: string, path: string, message: string) {
  return new AppError('invalid_request', detail, [{ path, message }]);
}

/** `problems` as the document has them: their schema a reference into `components`. */
function documented(errors: AppError[]): Record<string, ProblemResponse> {
  const schema = { $ref: '#/components/schemas/Problem' };
  return Object.fromEntries(
    Object.entries(problems(...errors)).map(([status, response]) => {
      const media = response.content['application/problem+json'];
      return [status, { ...response, content: { 'application/problem+json': { ...media, schema } } }];
    }),
  );
}

/** The response with every header it carries, each a reference to its one definition. */
function withCommonHeaders(status: number, response: Response): Response {
  // A route names its headers as RESPONSE_HEADERS does; an unknown name is a dangling reference, which
  // the lint (redocly.yaml) refuses.
  const names = new Set(Object.keys(response.headers ?? {}));
  names.add('X-Request-Id');
  // A 401 is answered before the key's budget is counted; everything else after.
  if (status !== 401) for (const name of RATE_LIMIT_HEADERS) names.add(name);
  if (status === 401) names.add('WWW-Authenticate');
  if (status === 429 || status === 503) names.add('Retry-After');
  return { ...response, headers: Object.fromEntries([...names].map((name) => [name, headerRef(name)])) };
}

function scopeList(operations: Operation[]): string {
  const lines = SCOPES.map((scope) => {
    const allowed = operations.filter((operation) => operation['x-required-scopes']?.includes(scope));
    const names = allowed.map((operation) => `\`${operation.operationId}\``).join(', ');
    return `- \`${scope}\`: ${scope === 'admin' ? `every operation, and alone ${names}` : names}`;
  });
  return `Scopes (each operation names the one it needs in \`x-required-scopes\`):\n\n${lines.join('\n')}`;
}
