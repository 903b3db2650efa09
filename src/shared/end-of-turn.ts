import type { FastifyReply } from 'fastify';

type Deferred = { reply: FastifyReply; answer: () => void };

let queue: Deferred[] = [];

/**
 * Answers `reply` (by calling `answer`, which sends it) once the event loop has handled every request that
 * was ready in this turn, together with the other answers deferred in it: `setImmediate` runs right after
 * the loop's I/O phase. For answers that are ready at once, in memory (a cached catalog read).
 *
 * Under load the loop finds many requests ready at each turn. Answered one by one, each response's socket
 * write comes between two requests' work, and on a loopback peer each write wakes that peer on another core
 * (the kernel's cost, charged to the sender). Answered together, the writes follow one another, the peer
 * is woken far less often, and the requests' work runs back to back too. A cached catalog GET then costs
 * less CPU, in the kernel and in Node.js alike (docs/performance.md, "The choices that pay"). A request
 * alone in its turn is answered in the same turn, as before; under load, a response waits at most for the
 * other requests of its turn. The writes themselves are not merged: each socket still gets its own.
 *
 * An answer that throws gets the error response Fastify gives a handler that throws, and the others of the
 * turn are still sent.
 */
export function answerAtEndOfTurn(reply: FastifyReply, answer: () => void): void {
  if (queue.push({ reply, answer }) === 1) setImmediate(answerAll);
}

function answerAll(): void {
  const turn = queue;
  queue = [];
  for (const { reply, answer } of turn) {
    try {
      answer();
    } catch (error) {
      reply.send(error);
    }
  }
}
