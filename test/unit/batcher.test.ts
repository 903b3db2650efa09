import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BatchRunner, createBatcher } from '../../src/shared/batcher.js';

type Call = { items: string[]; finish: () => void };

/** Lets every promise that can settle, settle. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A runner that answers each item upper-cased, but only when the test lets its batch finish. */
function heldRunner() {
  const calls: Call[] = [];
  const run: BatchRunner<string, string> = (items) =>
    new Promise((resolve) => {
      calls.push({
        items,
        finish: () => resolve(items.map((item) => ({ status: 'fulfilled', value: item.toUpperCase() }))),
      });
    });
  return { calls, run };
}

describe('createBatcher', () => {
  it('when idle, then an item runs at once and alone', async () => {
    const { calls, run } = heldRunner();
    const submit = createBatcher(run, { maxSize: 10, maxInFlight: 1 });
    const answer = submit('a');
    expect(calls.map((call) => call.items)).toEqual([['a']]);
    calls[0]?.finish();
    await expect(answer).resolves.toBe('A');
  });

  it('when every slot is busy, then the items that queue meanwhile run together, in order, up to maxSize', async () => {
    const { calls, run } = heldRunner();
    const submit = createBatcher(run, { maxSize: 3, maxInFlight: 1 });
    const answers = ['a', 'b', 'c', 'd', 'e'].map(submit);
    expect(calls.map((call) => call.items)).toEqual([['a']]);
    calls[0]?.finish();
    await tick();
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b', 'c', 'd']]);
    calls[1]?.finish();
    await tick();
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
    calls[2]?.finish();
    await expect(Promise.all(answers)).resolves.toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it('runs no more than maxInFlight batches at once', async () => {
    const { calls, run } = heldRunner();
    const submit = createBatcher(run, { maxSize: 10, maxInFlight: 2 });
    const answers = ['a', 'b', 'c', 'd'].map(submit);
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b']]);
    calls[1]?.finish();
    await tick();
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b'], ['c', 'd']]);
    calls[0]?.finish();
    calls[2]?.finish();
    await expect(Promise.all(answers)).resolves.toEqual(['A', 'B', 'C', 'D']);
  });

  it('when two items share a conflict key, then they go in different batches, the first one first', async () => {
    const { calls, run } = heldRunner();
    const submit = createBatcher(run, {
      maxSize: 10,
      maxInFlight: 1,
      conflictKey: (item) => (item.startsWith('k') ? item.slice(0, 2) : undefined),
    });
    const answers = ['x', 'k1-first', 'y', 'k1-second', 'k2', 'z'].map(submit);
    calls[0]?.finish();
    await tick();
    expect(calls[1]?.items).toEqual(['k1-first', 'y', 'k2', 'z']);
    calls[1]?.finish();
    await tick();
    expect(calls[2]?.items).toEqual(['k1-second']);
    calls[2]?.finish();
    await expect(Promise.all(answers)).resolves.toEqual(['X', 'K1-FIRST', 'Y', 'K1-SECOND', 'K2', 'Z']);
  });

  it('gives each item its own outcome: a rejected item fails alone', async () => {
    const submit = createBatcher<number, number>(
      async (items) =>
        items.map((item) =>
          item < 0
            ? { status: 'rejected', reason: new Error(`negative ${item}`) }
            : { status: 'fulfilled', value: item * 2 },
        ),
      { maxSize: 10, maxInFlight: 1 },
    );
    const answers = [1, -2, 3].map((item) => submit(item).catch((error: Error) => error.message));
    await expect(Promise.all(answers)).resolves.toEqual([2, 'negative -2', 6]);
  });

  it('when the runner fails, then every item of that batch fails with its error, and later batches still run', async () => {
    let calls = 0;
    const submit = createBatcher<string, string>(
      async (items) => {
        calls += 1;
        if (calls === 2) throw new Error('connection lost');
        return items.map((item) => ({ status: 'fulfilled', value: item }));
      },
      { maxSize: 10, maxInFlight: 1 },
    );
    const answers = ['a', 'b', 'c'].map((item) => submit(item).catch((error: Error) => error.message));
    await expect(Promise.all(answers)).resolves.toEqual(['a', 'connection lost', 'connection lost']);
    await expect(submit('d')).resolves.toBe('d');
  });

  it('when the runner answers fewer results than items, then the unanswered item fails instead of hanging', async () => {
    const submit = createBatcher<string, string>(async () => [], { maxSize: 10, maxInFlight: 1 });
    await expect(submit('a')).rejects.toThrow('no result for item 0');
  });

  it('when the runner throws instead of rejecting, then its items fail and the slot is free again', async () => {
    let calls = 0;
    const submit = createBatcher<string, string>(
      (items) => {
        calls += 1;
        if (calls === 1) throw new Error('thrown');
        return Promise.resolve(items.map((item) => ({ status: 'fulfilled', value: item })));
      },
      { maxSize: 10, maxInFlight: 1 },
    );
    await expect(submit('a')).rejects.toThrow('thrown');
    await expect(submit('b')).resolves.toBe('b');
  });

  it('when an item is sent as soon as an answer arrives, then its slot is already free and it goes at once', async () => {
    const { calls, run } = heldRunner();
    const submit = createBatcher(run, { maxSize: 10, maxInFlight: 1 });
    const next = submit('a').then(() => {
      const answer = submit('b');
      return { runsWhenSent: calls.length, answer };
    });
    calls[0]?.finish();
    const { runsWhenSent, answer } = await next;
    expect(runsWhenSent).toBe(2);
    calls[1]?.finish();
    await expect(answer).resolves.toBe('B');
  });

  it('when an item waited for a slot longer than expiry.afterMs, then it fails with the expiry error instead of running', async () => {
    const { calls, run } = heldRunner();
    const submit = createBatcher(run, {
      maxSize: 10,
      maxInFlight: 1,
      expiry: { afterMs: 20, error: () => new Error('waited too long') },
    });
    const first = submit('a');
    const stale = submit('b').catch((error: Error) => error.message);
    await new Promise((resolve) => setTimeout(resolve, 40));
    const fresh = submit('c');
    calls[0]?.finish();
    await expect(first).resolves.toBe('A');
    await expect(stale).resolves.toBe('waited too long');
    expect(calls.map((call) => call.items)).toEqual([['a'], ['c']]);
    calls[1]?.finish();
    await expect(fresh).resolves.toBe('C');
  });

  it('refuses a size or a number in flight below 1', () => {
    const run: BatchRunner<string, string> = async () => [];
    expect(() => createBatcher(run, { maxSize: 0, maxInFlight: 1 })).toThrow('at least 1');
    expect(() => createBatcher(run, { maxSize: 1, maxInFlight: 0.5 })).toThrow('at least 1');
  });

  it('answers every item exactly once with its own result, whatever the sizes and conflicts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        async (keys, maxSize, maxInFlight) => {
          const batches: number[][] = [];
          let running = 0;
          let mostRunning = 0;
          const submit = createBatcher<number, number>(
            async (items) => {
              running += 1;
              mostRunning = Math.max(mostRunning, running);
              batches.push(items);
              await new Promise((resolve) => setImmediate(resolve));
              running -= 1;
              return items.map((item) => ({ status: 'fulfilled', value: item }));
            },
            { maxSize, maxInFlight, conflictKey: (item) => String(keys[item]) },
          );
          const items = keys.map((_, index) => index);
          expect(await Promise.all(items.map(submit))).toEqual(items);
          expect(batches.flat().sort((a, b) => a - b)).toEqual(items);
          expect(mostRunning).toBeLessThanOrEqual(maxInFlight);
          for (const batch of batches) {
            expect(batch.length).toBeLessThanOrEqual(maxSize);
            expect(new Set(batch.map((item) => keys[item])).size).toBe(batch.length);
          }
        },
      ),
    );
  });
});
