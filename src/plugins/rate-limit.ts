import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../shared/errors.js';
import { routeConfigOf } from '../shared/route.js';
import { andThen, type MaybePromise } from '../shared/sync-first.js';
import type { RateLimitStore, RateWindow } from './rate-limit-store.js';

export type RateLimitOptions = {
  store: RateLimitStore;
  /** Per API key; per address on routes that take no key. */
  perKeyPerMinute: number;
  /** Every request of an address, counted before its key is looked up. */
  perAddressPerMinute: number;
  /** Wrong keys presented per address and per key id; past them a wrong key is a 429, not a 401. */
  authFailuresPerMinute: number;
  /** Recharges (routes that say `sellsCredit`) per client, whichever of its keys sends them. */
  rechargesPerClientPerMinute: number;
};

export type RateLimits = {
  /** The auth plugin's `beforeAuth`: the per-address ceiling. */
  beforeAuth(request: FastifyRequest, reply: FastifyReply): MaybePromise<void>;
  /** The auth plugin's `afterAuth`: the per-key (or per-address) budget and the per-client one. */
  afterAuth(request: FastifyRequest, reply: FastifyReply): MaybePromise<void>;
  /**
   * The auth plugin's `onFailure`: counts a wrong key against the caller's address and, when the key has
   * our form, against its key id; throws the 429 when either is past the limit.
   */
  countAuthFailure(request: FastifyRequest, keyId: string | null): MaybePromise<void>;
  /** Register before the routes (hooks reach only what is declared after them): a 403 still counts. */
  plugin: (app: FastifyInstance) => Promise<void>;
};

const WINDOW_MS = 60_000;

type Verdict = { max: number; remaining: number; resetSeconds: number; isExceeded: boolean };

function verdictOf(max: number, window: RateWindow): Verdict {
  return {
    max,
    remaining: Math.max(0, max - window.count),
    resetSeconds: Math.max(1, Math.ceil(window.ttlMs / 1000)),
    isExceeded: window.count > max,
  };
}

const LIMIT_HEADER = 'ratelimit-limit';

function setHeaders(reply: FastifyReply, { max, remaining, resetSeconds }: Verdict): void {
  reply
    .header(LIMIT_HEADER, String(max))
    .header('ratelimit-remaining', String(remaining))
    .header('ratelimit-reset', String(resetSeconds));
}

function rateLimited({ max, remaining, resetSeconds }: Verdict, reason: string): AppError {
  return new AppError('rate_limited', `${reason}; retry in ${resetSeconds} s`, undefined, {
    [LIMIT_HEADER]: String(max),
    'ratelimit-remaining': String(remaining),
    'ratelimit-reset': String(resetSeconds),
    'retry-after': String(resetSeconds),
  });
}

// IPv6 callers usually own a whole /64, so that is what one address means here (the plugin's default).
// An address without a colon is IPv4 and already in its one form: the IPv6 test is a long regular
// expression, ~1 % of a cached catalog read (docs/performance.md).
const addressOf = ({ ip }: FastifyRequest) => (ip.includes(':') ? normalizeIP(ip) : ip);

const isRecharge = (request: FastifyRequest) => routeConfigOf(request).sellsCredit === true;

/** Fixed one-minute windows in `store`, checked in the order docs/api.md and the hooks' costs call for. */
export function createRateLimits(options: RateLimitOptions): RateLimits {
  const { store, perKeyPerMinute, perAddressPerMinute, authFailuresPerMinute } = options;
  const { rechargesPerClientPerMinute } = options;

  function limitCaller(request: FastifyRequest, reply: FastifyReply): MaybePromise<void> {
    const { principal } = request;
    const counter = principal ? `key:${principal.keyId}` : `anonymous:${addressOf(request)}`;
    return andThen(store.hit(counter, WINDOW_MS, perKeyPerMinute), (window) => {
      const caller = verdictOf(perKeyPerMinute, window);
      if (caller.isExceeded) {
        const who = principal ? 'this API key' : 'without an API key, this address';
        throw rateLimited(caller, `${who} may send ${perKeyPerMinute} requests a minute`);
      }
      // OWASP API6: selling credit is the flow worth automating, so all keys of a client share one budget.
      if (!principal || !isRecharge(request)) return setHeaders(reply, caller);
      return andThen(
        store.hit(`client-recharges:${principal.client}`, WINDOW_MS, rechargesPerClientPerMinute),
        (recharges) => {
          const client = verdictOf(rechargesPerClientPerMinute, recharges);
          if (client.isExceeded) {
            throw rateLimited(
              client,
              `this API key's client may make ${rechargesPerClientPerMinute} recharges a minute`,
            );
          }
          setHeaders(reply, client.remaining < caller.remaining ? client : caller);
        },
      );
    });
  }

  function limitAddress(request: FastifyRequest): MaybePromise<void> {
    return andThen(store.hit(`address:${addressOf(request)}`, WINDOW_MS, perAddressPerMinute), (window) => {
      const ceiling = verdictOf(perAddressPerMinute, window);
      if (ceiling.isExceeded) {
        throw rateLimited(ceiling, `this address may send ${perAddressPerMinute} requests a minute`);
      }
    });
  }

  // The lockout never refuses a key unchecked: it cannot tell a valid key from a guess without checking, and
  // refusing both would let anyone behind the same NAT, office or proxy, or anyone who knows a key's public
  // id, lock its owner out with a few wrong keys. So every presented key is checked (a SHA-256 and a compare,
  // from memory once the key is known), and past the limit a wrong one gets 429 with Retry-After instead of
  // 401: the guesser learns no more than from a 401, and a valid key is served as ever. A request without a
  // key counts nothing: it guesses nothing. Guessing stays bounded by the per-address ceiling on how often
  // anyone may ask and by a key's 256 random bits; the lockout shows a guessing run, from one address or at
  // one key id from many addresses, as 429s.
  function countAuthFailure(request: FastifyRequest, keyId: string | null): MaybePromise<void> {
    const limit = authFailuresPerMinute;
    return andThen(
      store.hit(`auth-failures:address:${addressOf(request)}`, WINDOW_MS, limit),
      (byAddress) => {
        const fromAddress = verdictOf(limit, byAddress);
        const byKeyId = keyId === null ? null : store.hit(`auth-failures:key:${keyId}`, WINDOW_MS, limit);
        return andThen(byKeyId, (window) => {
          if (fromAddress.isExceeded) {
            throw rateLimited(fromAddress, `this address presented ${limit} wrong API keys in a minute`);
          }
          const forKeyId = window && verdictOf(limit, window);
          if (forKeyId?.isExceeded) {
            throw rateLimited(
              forKeyId,
              `wrong keys with this key id were presented ${limit} times in a minute`,
            );
          }
        });
      },
    );
  }

  return {
    beforeAuth: limitAddress,
    afterAuth: limitCaller,

    plugin: fp(
      async (app) => {
        // The auth hook refuses a missing scope (403) before `afterAuth` runs; the key still pays for it.
        // `afterAuth` sets the RateLimit headers whenever it counts and lets the request on, so a 403 without
        // them was not counted; its own refusals are 429s, which this hook leaves alone.
        app.addHook('onError', async (request, reply, error) => {
          if (!request.principal || reply.hasHeader(LIMIT_HEADER) || !(error instanceof AppError)) return;
          if (error.code !== 'forbidden') return;
          const verdict = verdictOf(
            perKeyPerMinute,
            await store.hit(`key:${request.principal.keyId}`, WINDOW_MS, perKeyPerMinute),
          );
          setHeaders(reply, verdict);
        });
      },
      { name: 'rate-limit' },
    ),

    countAuthFailure,
  };
}
