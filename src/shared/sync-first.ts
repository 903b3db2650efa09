import type { HookHandlerDoneFunction } from 'fastify';

/**
 * A value now, or a promise of it: what a lookup answers at once from memory (a cached catalog, a known key,
 * an in-process counter) and later from Redis or PostgreSQL.
 *
 * Every request of a cached catalog read goes through a chain of such lookups. Written as `async` functions,
 * each would cost a promise and a trip through the microtask queue even when its answer is already in memory;
 * written with these helpers, the request runs straight through and only the calls that really wait pay for
 * a promise (docs/performance.md).
 */
export type MaybePromise<T> = T | Promise<T>;

/** Calls `next` with `value` at once when it is there, once it resolves otherwise. */
export function andThen<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/**
 * Ends a callback-style Fastify hook whose work may or may not wait: `done` at once, or when the promise
 * settles, with its error if it rejects. A synchronous throw is left to Fastify, which answers it as an error.
 */
export function settle(work: MaybePromise<void>, done: HookHandlerDoneFunction): void {
  if (work instanceof Promise) work.then(() => done(), done);
  else done();
}
