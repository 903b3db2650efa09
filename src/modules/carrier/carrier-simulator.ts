import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { hasSpecialEnding, type SandboxRecord, sendAction, statusFromRecord } from './sandbox-rules.js';

/**
 * A stand-alone carrier speaking docs/carrier-protocol.md, with the sandbox carrier's table of endings
 * (docs/api.md; sandbox-rules) and in-memory books, so that the `http` carrier can be tried over real
 * sockets. Like the sandbox carrier, it credits every send its rules credit: a reference sent twice and
 * credited twice shows in its stats. The knobs add faults to any number, drawn from a seeded generator so
 * a run can be replayed.
 */
export type CarrierSimulatorOptions = {
  port?: number;
  host?: string;
  /** Added before each answer. */
  latencyMs?: number;
  /** Fraction of sends answered 503 without doing anything. */
  unavailableRate?: number;
  /** Fraction of sends whose connection is destroyed before anything is done. */
  resetRate?: number;
  /** Fraction of credited sends whose connection is destroyed after the credit, before the answer. */
  lostAnswerRate?: number;
  seed?: number;
};

export type CarrierSimulatorStats = {
  sends: number;
  credits: number;
  /** References credited more than once: a carrier that saw a blind resend. */
  referencesCreditedMoreThanOnce: number;
  /** TCP connections accepted, to see keep-alive at work. */
  connections: number;
  /** The most requests it was answering at once. */
  peakInFlight: number;
};

export type CarrierSimulator = { url: string; close(): Promise<void>; stats(): CarrierSimulatorStats };

type Book = { sends: number; record: SandboxRecord };
type Answer = { status: number; body: unknown } | 'hold' | 'destroy';

const MAX_BODY_BYTES = 16 * 1024;

export async function startCarrierSimulator(
  options: CarrierSimulatorOptions = {},
): Promise<CarrierSimulator> {
  const random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const books = new Map<string, Book>();
  const counts = { sends: 0, connections: 0, inFlight: 0, peakInFlight: 0 };
  const sockets = new Set<Socket>();

  const bookOf = (reference: string): Book => {
    const book = books.get(reference) ?? { sends: 0, record: { credits: [], refusal: null } };
    books.set(reference, book);
    return book;
  };

  function send(input: unknown): Answer {
    counts.sends += 1;
    const topUp = parseTopUp(input);
    if (!topUp) return { status: 400, body: { error: 'bad_request' } };
    // Three draws for every send, whatever happens, so that a seed replays the same faults.
    const [reset, unavailable, lost] = [random(), random(), random()];
    if (reset < (options.resetRate ?? 0)) return 'destroy';
    if (unavailable < (options.unavailableRate ?? 0)) return { status: 503, body: { error: 'unavailable' } };
    const book = bookOf(topUp.reference);
    const action = sendAction(topUp.phoneNumber, hasSpecialEnding(topUp.phoneNumber) ? book.sends : 0);
    book.sends += 1;
    switch (action.kind) {
      case 'refuse':
        book.record.refusal = action.code;
        return { status: 422, body: { error: action.code } };
      case 'unavailable':
        return { status: 503, body: { error: 'unavailable' } };
      case 'drop':
        return 'hold';
      case 'credit': {
        const creditedAt = new Date(Date.now() + action.creditAfterMs);
        const reversedAt =
          action.reverseAfterMs === undefined ? null : new Date(creditedAt.getTime() + action.reverseAfterMs);
        book.record.credits.push({ creditedAt, reversedAt });
        if (action.answer === 'lost') return 'hold';
        if (lost < (options.lostAnswerRate ?? 0)) return 'destroy';
        return { status: 200, body: { reference: topUp.reference, status: action.answer } };
      }
    }
  }

  function status(reference: string): Answer {
    const book = books.get(reference);
    const outcome = book ? statusFromRecord(book.record, new Date()) : { kind: 'not_found' as const };
    switch (outcome.kind) {
      case 'credited':
      case 'in_progress':
      case 'reversed':
        return { status: 200, body: { reference, status: outcome.kind } };
      case 'refused':
        return { status: 422, body: { error: outcome.code } };
      case 'not_found':
        return { status: 404, body: { error: 'not_found' } };
      default:
        return { status: 500, body: { error: 'internal' } };
    }
  }

  function reversals(sinceText: string | null, after: string | null): Answer {
    const since = new Date(sinceText ?? '');
    if (!sinceText || Number.isNaN(since.getTime())) return { status: 400, body: { error: 'bad_request' } };
    const now = new Date();
    // In (time, reference) order; with `after`, the entries at `since` itself resume after that reference.
    const due = (reference: string, at: Date) =>
      at.getTime() > since.getTime() ||
      (at.getTime() === since.getTime() && (after === null || reference > after));
    const undone = [...books].flatMap(([reference, book]) =>
      book.record.credits.flatMap(({ reversedAt }) =>
        reversedAt && due(reference, reversedAt) && reversedAt <= now ? [{ reference, reversedAt }] : [],
      ),
    );
    undone.sort(
      (a, b) =>
        a.reversedAt.getTime() - b.reversedAt.getTime() ||
        (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0),
    );
    const list = undone
      .slice(0, 1000)
      .map((r) => ({ reference: r.reference, reversed_at: r.reversedAt.toISOString() }));
    return { status: 200, body: { reversals: list } };
  }

  function stats(): CarrierSimulatorStats {
    const credited = [...books.values()].map((book) => book.record.credits.length);
    return {
      sends: counts.sends,
      credits: credited.reduce((sum, n) => sum + n, 0),
      referencesCreditedMoreThanOnce: credited.filter((n) => n > 1).length,
      connections: counts.connections,
      peakInFlight: counts.peakInFlight,
    };
  }

  async function route(req: IncomingMessage): Promise<Answer> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const [, resource, reference, extra] = url.pathname.split('/');
    const key = `${req.method} /${resource}${reference === undefined ? '' : '/:reference'}`;
    if (extra !== undefined) return { status: 404, body: { error: 'unknown_path' } };
    const id = decodeURIComponent(reference ?? '');
    switch (key) {
      case 'POST /topups':
        return send(await readJson(req));
      case 'GET /topups/:reference':
        return status(id);
      case 'GET /reversals':
        return reversals(url.searchParams.get('since'), url.searchParams.get('after'));
      case 'GET /credits/:reference':
        return { status: 200, body: { reference: id, credits: books.get(id)?.record.credits.length ?? 0 } };
      case 'GET /stats': {
        const s = stats();
        return {
          status: 200,
          body: {
            sends: s.sends,
            credits: s.credits,
            references_credited_more_than_once: s.referencesCreditedMoreThanOnce,
            connections: s.connections,
            peak_in_flight: s.peakInFlight,
          },
        };
      }
      default:
        return { status: 404, body: { error: 'unknown_path' } };
    }
  }

  const server = createServer((req, res) => {
    counts.inFlight += 1;
    counts.peakInFlight = Math.max(counts.peakInFlight, counts.inFlight);
    res.on('close', () => {
      counts.inFlight -= 1;
    });
    route(req)
      .catch((): Answer => ({ status: 400, body: { error: 'bad_request' } }))
      .then((answer) => {
        if (answer === 'destroy') return req.socket.destroy();
        // Taken and never answered: the client's timeout ends it, or close() does.
        if (answer === 'hold') return;
        setTimeout(() => reply(res, answer), options.latencyMs ?? 0);
      });
  });
  server.on('connection', (socket: Socket) => {
    counts.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function reply(res: ServerResponse, answer: { status: number; body: unknown }) {
  if (res.destroyed) return;
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
}

function parseTopUp(input: unknown): { reference: string; phoneNumber: string } | null {
  if (typeof input !== 'object' || input === null) return null;
  const { reference, phone_number: phoneNumber, value_cents: valueCents } = input as Record<string, unknown>;
  const valid =
    typeof reference === 'string' &&
    reference.length > 0 &&
    reference.length <= 200 &&
    typeof phoneNumber === 'string' &&
    /^\d{4,20}$/.test(phoneNumber) &&
    Number.isInteger(valueCents) &&
    (valueCents as number) > 0;
  return valid ? { reference, phoneNumber } : null;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > MAX_BODY_BYTES) throw new Error('body too large');
  }
  return JSON.parse(text);
}

/** mulberry32: small, fast, and the same sequence for the same seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
