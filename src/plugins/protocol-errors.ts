import { randomUUID } from 'node:crypto';
import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, invalidRequest } from '../shared/errors.js';
import type { Problem } from '../shared/schemas.js';
import { sendProblem } from './errors.js';
import { API_HEADERS } from './security-headers.js';

// What Fastify finds wrong before it has a route (its `frameworkErrors`), in words for the caller; the URL
// itself is not repeated, as it may hold what the caller should not have sent.
const FRAMEWORK_DETAILS: Record<string, string> = {
  FST_ERR_BAD_URL: 'the path is not a valid URL path: each % must start a percent-encoded UTF-8 character',
  FST_ERR_MAX_PARAM_LENGTH: 'a part of the path is longer than 100 characters',
};

/**
 * Fastify's `frameworkErrors`: the errors it raises before routing, which neither a hook nor the error handler
 * sees, answered as the problem details every other error gets, with the security headers and request id the
 * gate would have set. Anything not listed above is a fault of ours (an async route constraint that failed).
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  reply.headers(API_HEADERS).header('x-request-id', request.id);
  const detail = FRAMEWORK_DETAILS[error.code];
  if (detail === undefined) {
    request.log.error({ err: error }, 'unexpected error');
    return sendProblem(request, reply, new AppError('internal_error', 'an unexpected error occurred'));
  }
  sendProblem(request, reply, invalidRequest(detail));
  // No hook runs for these requests, so this is the line the request log would have written.
  request.log.info(
    { req: request, res: reply, responseTime: reply.elapsedTime, code: error.code },
    'request completed',
  );
}

type NodeError = Error & { code?: string };
type ResponseInFlight = { headersSent?: boolean };

// Node's HTTP parser codes (llhttp's HPE_*) that it reports to `clientError`, in words for the caller.
const REQUEST_LINE = 'the request line is malformed: it must be METHOD /path HTTP/1.1, ending with CRLF';
const PARSER_DETAILS: Record<string, string> = {
  HPE_INVALID_METHOD: REQUEST_LINE,
  HPE_INVALID_URL: REQUEST_LINE,
  HPE_INVALID_VERSION: REQUEST_LINE,
  HPE_INVALID_CONSTANT: REQUEST_LINE,
  HPE_INVALID_HEADER_TOKEN:
    'a header is malformed: a character HTTP does not allow in its name or value, or a folded line',
  HPE_LF_EXPECTED: 'every line of the request head must end with CRLF',
  HPE_CR_EXPECTED: 'every line of the request head must end with CRLF',
  HPE_INVALID_CONTENT_LENGTH: 'Content-Length must be one decimal number, sent once',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length must be one decimal number, sent once',
  HPE_INVALID_TRANSFER_ENCODING:
    'Transfer-Encoding must end with chunked, and never come with Content-Length',
  HPE_INVALID_CHUNK_SIZE: 'the chunked body is malformed',
  HPE_PAUSED_H2_UPGRADE: 'HTTP/2 is not served without TLS here: send HTTP/1.1',
};

/**
 * Fastify's `clientErrorHandler`, for what Node's HTTP parser refuses before any request exists: no route,
 * hook or reply, only the socket. It writes a minimal problem (status 400, or 431 for headers over Node's
 * limit, 408 for a request that did not arrive in time) with its own request id, logged with the parser's
 * code, and closes the connection, as Node does; never the bytes that were sent, which may hold a key.
 * Like Node's own handler, it writes nothing when the socket is gone or a response on it has begun (a
 * pipelined request), where another answer would corrupt the stream.
 */
export function answerClientError(this: FastifyInstance, error: NodeError, socket: Socket): void {
  const inFlight = (socket as Socket & { _httpMessage?: ResponseInFlight })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy(error);
    return;
  }
  const requestId = randomUUID();
  const [status, detail] = describe(error.code ?? '');
  this.log.info(
    { request_id: requestId, code: error.code, res: { statusCode: status } },
    'request refused by the HTTP parser',
  );
  const problem: Problem = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Bad Request',
    status,
    code: 'invalid_request',
    detail,
    request_id: requestId,
  };
  const body = JSON.stringify(problem);
  const headers = {
    ...API_HEADERS,
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    'x-request-id': requestId,
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.write(`HTTP/1.1 ${status} ${problem.title}\r\n${head.join('')}\r\n${body}`);
  socket.destroy(error);
}

function describe(code: string): [status: number, detail: string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, `the request's headers are over ${maxHeaderSize} bytes`];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'the request did not arrive in full in time'];
  return [400, PARSER_DETAILS[code] ?? 'the request is not well-formed HTTP/1.1'];
}
