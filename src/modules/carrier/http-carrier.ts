import { type Dispatcher, Pool } from 'undici';
import type { Carrier, RefusalCode, Reversal, SendOutcome, StatusOutcome, TopUp } from './carrier.port.js';

/**
 * The `http` carrier: an aggregator speaking docs/carrier-protocol.md. Every call is bounded by `timeoutMs`
 * from the moment it is made (queueing for a connection, connecting, writing, waiting, reading), and its
 * failures are classified by whether the request may have reached the carrier: a call that never left is
 * `transient`, one that left and got no answer is `unknown` (for a status query: "could not ask").
 */
export type HttpCarrierOptions = { url: string; timeoutMs: number; maxConnections: number };

/** What one call came to: an answer, nothing written at all, or written and then no usable answer. */
type Reply =
  | { kind: 'answered'; statusCode: number; body: unknown }
  | { kind: 'not_sent' }
  | { kind: 'lost' };

// An answer of the protocol is a few hundred bytes; a bigger one is not the protocol's.
const MAX_ANSWER_BYTES = 64 * 1024;
const REFUSALS: readonly string[] = ['invalid_number', 'barred_number', 'carrier_declined'] as const;

export function createHttpCarrier(options: HttpCarrierOptions): Carrier {
  const base = new URL(options.url);
  const prefix = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    connections: options.maxConnections,
    pipelining: 1,
    // Below the 5 s idle timeout most servers use, so the client closes an idle socket before the server does.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
    connect: { timeout: options.timeoutMs },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  const call = (method: 'GET' | 'POST', path: string, body?: string) =>
    callOnce(pool, { method, path: `${prefix}${path}`, body }, options.timeoutMs);

  return {
    name: 'http',

    async send(topUp: TopUp): Promise<SendOutcome> {
      const body = {
        reference: topUp.reference,
        phone_number: topUp.phoneNumber,
        value_cents: topUp.valueCents,
      };
      const reply = await call('POST', '/topups', JSON.stringify(body));
      if (reply.kind === 'not_sent') return { kind: 'transient' };
      if (reply.kind === 'lost') return { kind: 'unknown' };
      const { statusCode, body: answer } = reply;
      if (statusCode === 200) {
        const status = field(answer, 'status');
        if (status === 'credited' || status === 'in_progress') return { kind: status };
      }
      const refusal = refusalOf(statusCode, answer);
      if (refusal) return { kind: 'refused', code: refusal };
      // A proxy in front of the carrier answers 502 or 504 after it forwarded the request: it may have been done.
      if (statusCode === 502 || statusCode === 504) return { kind: 'unknown' };
      if (statusCode >= 500 || statusCode === 429) return { kind: 'transient' };
      // An answer the protocol does not define says nothing about whether the top-up was done.
      return { kind: 'unknown' };
    },

    async status(reference: string): Promise<StatusOutcome> {
      const reply = await call('GET', `/topups/${encodeURIComponent(reference)}`);
      if (reply.kind !== 'answered') return { kind: 'transient' };
      const { statusCode, body: answer } = reply;
      if (statusCode === 200) {
        const status = field(answer, 'status');
        if (status === 'credited' || status === 'in_progress' || status === 'reversed')
          return { kind: status };
      }
      // A bare 404 may come from a proxy or a wrong CARRIER_URL; only the protocol's own says "no record",
      // since "no record" allows a resend.
      if (statusCode === 404 && field(answer, 'error') === 'not_found') return { kind: 'not_found' };
      const refusal = refusalOf(statusCode, answer);
      if (refusal) return { kind: 'refused', code: refusal };
      return { kind: 'transient' };
    },

    async reversalsSince(since: Date, after?: string): Promise<Reversal[]> {
      const query = new URLSearchParams({
        since: since.toISOString(),
        ...(after === undefined ? {} : { after }),
      });
      const reply = await call('GET', `/reversals?${query}`);
      const reversals =
        reply.kind === 'answered' && reply.statusCode === 200 ? parseReversals(reply.body) : null;
      // The feed has no outcome to report: the dispatcher's next poll asks again from the same point.
      if (!reversals) throw new Error(`carrier reversal feed unavailable (${describe(reply)})`);
      return reversals;
    },

    async close() {
      // By now the dispatcher has stopped waiting: a call still open is left to its lease, as after a
      // crash, and must not hold the shutdown for the rest of its timeout (close() would wait for it).
      await pool.destroy();
    },
  };
}

/**
 * One request through the pool. The timer covers the whole call; `onRequestStart` runs just before the
 * request is written to a socket, which is what separates "never sent" from "sent, answer lost".
 */
function callOnce(
  pool: Pool,
  request: { method: 'GET' | 'POST'; path: string; body: string | undefined },
  timeoutMs: number,
): Promise<Reply> {
  return new Promise((resolve) => {
    let sent = false;
    let settled = false;
    let controller: Dispatcher.DispatchController | null = null;
    let statusCode = 0;
    let size = 0;
    const chunks: Buffer[] = [];
    const finish = (reply: Reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reply);
    };
    const timer = setTimeout(() => {
      finish(sent ? { kind: 'lost' } : { kind: 'not_sent' });
      controller?.abort(new Error('carrier call timed out'));
    }, timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    try {
      pool.dispatch(
        { ...request, headers },
        {
          onRequestStart(started) {
            controller = started;
            // Timed out while waiting for a connection: the caller was told "not sent", so it must stay so.
            if (settled) started.abort(new Error('carrier call timed out before it was sent'));
            else sent = true;
          },
          onResponseStart(_controller, code) {
            statusCode = code;
          },
          onResponseData(current, chunk) {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) current.abort(new Error('carrier answer too large'));
            else chunks.push(chunk);
          },
          onResponseEnd() {
            finish({ kind: 'answered', statusCode, body: parseJson(Buffer.concat(chunks)) });
          },
          onResponseError() {
            finish(sent ? { kind: 'lost' } : { kind: 'not_sent' });
          },
        },
      );
    } catch {
      finish({ kind: 'not_sent' });
    }
  });
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

function refusalOf(statusCode: number, body: unknown): RefusalCode | null {
  const error = field(body, 'error');
  return statusCode === 422 && typeof error === 'string' && REFUSALS.includes(error)
    ? (error as RefusalCode)
    : null;
}

function parseReversals(body: unknown): Reversal[] | null {
  const list = field(body, 'reversals');
  if (!Array.isArray(list)) return null;
  const reversals: Reversal[] = [];
  for (const entry of list) {
    const reference = field(entry, 'reference');
    const reversedAt = new Date(String(field(entry, 'reversed_at')));
    if (typeof reference !== 'string' || Number.isNaN(reversedAt.getTime())) return null;
    reversals.push({ reference, reversedAt });
  }
  return reversals;
}

function describe(reply: Reply): string {
  return reply.kind === 'answered' ? `answered ${reply.statusCode}` : reply.kind.replace('_', ' ');
}
