import contentType from 'content-type';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import { findBodyProblem } from '../shared/duplicate-keys.js';
import { AppError, invalidRequest } from '../shared/errors.js';

const REFUSE = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * JSON is UTF-8 (RFC 8259 §8.1) and the body is read as UTF-8. A body declared in another charset would be
 * read wrongly, its accented letters turned into replacement characters and stored so, so it is refused.
 */
function declaredCharset(request: FastifyRequest): string | undefined {
  try {
    return contentType.parse(request).parameters.charset?.toLowerCase();
  } catch {
    // A parameter list the strict parser refuses (a trailing `;`, a space in a value) that Fastify took:
    // its charset, if it names one, is still the body's.
    const header = String(request.headers['content-type'] ?? '');
    return /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(header)?.[1]?.toLowerCase();
  }
}

/**
 * Fastify's JSON parser answers one message for empty bodies, bad syntax and prototype poisoning alike;
 * this one tells the caller which it was. Poisoned keys are refused, never stripped, and so is a key given
 * twice in one object and a number that would be rounded as it is read (duplicate-keys.ts).
 */
export const jsonBodyPlugin = fp(async (app: FastifyInstance) => {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const charset = declaredCharset(request);
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return done(
        new AppError(
          'unsupported_media_type',
          `the body must be UTF-8 JSON; charset=${charset} is not accepted`,
        ),
        undefined,
      );
    }
    const text = body as string;
    if (text.trim() === '') return done(invalidRequest('the body is empty; send a JSON document'), undefined);
    let parsed: unknown;
    try {
      parsed = sjson.parse(text, REFUSE);
    } catch {
      // Only on the error path: safeParse answers undefined for bad syntax and null for a poisoned key.
      const isSyntaxError = sjson.safeParse(text) === undefined;
      const detail = isSyntaxError
        ? 'the body is not valid JSON'
        : 'the body has a forbidden __proto__ or constructor.prototype key';
      return done(invalidRequest(detail), undefined);
    }
    const problem = findBodyProblem(text);
    if (problem === undefined) return done(null, parsed);
    return done(
      problem.kind === 'repeated key'
        ? invalidRequest('the body gives a key twice in one object; send each key once', [
            { path: problem.path, message: 'is given more than once' },
          ])
        : invalidRequest(
            'the body has a number with more than 15 significant digits, which would be rounded',
            [{ path: problem.path, message: 'has more significant digits than can be held exactly (15)' }],
          ),
      undefined,
    );
  });
});
