import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { answerAtEndOfTurn } from '../../src/shared/end-of-turn.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A reply that only records what Fastify would have been asked to send. */
function recordingReply(sent: unknown[]): FastifyReply {
  return { send: (payload: unknown) => sent.push(payload) } as unknown as FastifyReply;
}

describe('answers at the end of the event loop turn', () => {
  it('when answers are deferred in one turn, then none runs before the turn ends, and all run in order after', async () => {
    const answered: string[] = [];
    for (const name of ['first', 'second', 'third']) {
      answerAtEndOfTurn(recordingReply([]), () => answered.push(name));
    }
    expect(answered).toEqual([]);
    await nextTurn();
    expect(answered).toEqual(['first', 'second', 'third']);
  });

  it('when an answer throws, then its reply is sent the error and the other answers still run', async () => {
    const failure = new Error('broken answer');
    const failedReply: unknown[] = [];
    const answered: string[] = [];
    answerAtEndOfTurn(recordingReply(failedReply), () => {
      throw failure;
    });
    answerAtEndOfTurn(recordingReply([]), () => answered.push('after'));
    await nextTurn();
    expect(failedReply).toEqual([failure]);
    expect(answered).toEqual(['after']);
  });

  it('when a turn has been answered, then an answer deferred later waits for its own turn', async () => {
    const answered: string[] = [];
    answerAtEndOfTurn(recordingReply([]), () => answered.push('one'));
    await nextTurn();
    answerAtEndOfTurn(recordingReply([]), () => answered.push('two'));
    expect(answered).toEqual(['one']);
    await nextTurn();
    expect(answered).toEqual(['one', 'two']);
  });
});
