/**
 * Natural batching: each item is run as soon as one of `maxInFlight` slots is free, together with every
 * item that queued while all slots were busy (up to `maxSize`). An idle service sends each item alone, so
 * nothing waits for a timer; a busy one sends fewer, larger batches, and the per-batch cost (a round trip,
 * a commit) is shared by the items in it.
 *
 * Items with the same `conflictKey` never share a batch: a later one waits for a later batch, in order. An
 * item that waited longer than `expiry.afterMs` for a slot fails with `expiry.error()` instead of running,
 * which bounds its answer time by that wait plus one batch's own (a queue behind hung batches would not).
 */
export type BatcherOptions<I> = {
  maxSize: number;
  maxInFlight: number;
  /** Items whose keys are equal are never in one batch; undefined: no conflict. */
  conflictKey?: (item: I) => string | undefined;
  /** Checked when a slot frees: items queued longer than `afterMs` fail with `error()`. */
  expiry?: { afterMs: number; error: () => unknown };
};

/** Runs a batch; answers one settled result per item, in the items' order. */
export type BatchRunner<I, O> = (items: I[]) => Promise<PromiseSettledResult<O>[]>;

type Pending<I, O> = {
  item: I;
  queuedAt: number;
  resolve: (value: O) => void;
  reject: (reason: unknown) => void;
};

export function createBatcher<I, O>(
  run: BatchRunner<I, O>,
  options: BatcherOptions<I>,
): (item: I) => Promise<O> {
  const { maxSize, maxInFlight, conflictKey, expiry } = options;
  if (!(Number.isInteger(maxSize) && maxSize >= 1 && Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
    throw new Error('a batcher needs maxSize and maxInFlight of at least 1');
  }
  let queue: Pending<I, O>[] = [];
  let inFlight = 0;

  function dropExpired() {
    if (!expiry) return;
    const oldest = Date.now() - expiry.afterMs;
    if ((queue[0]?.queuedAt ?? oldest) >= oldest) return; // the queue is in arrival order
    queue = queue.filter((pending) => {
      if (pending.queuedAt >= oldest) return true;
      pending.reject(expiry.error());
      return false;
    });
  }

  function takeBatch(): Pending<I, O>[] {
    if (!conflictKey) return queue.splice(0, maxSize);
    const batch: Pending<I, O>[] = [];
    const rest: Pending<I, O>[] = [];
    const keys = new Set<string>();
    for (const pending of queue) {
      const key = conflictKey(pending.item);
      if (batch.length >= maxSize || (key !== undefined && keys.has(key))) {
        rest.push(pending);
        continue;
      }
      if (key !== undefined) keys.add(key);
      batch.push(pending);
    }
    queue = rest;
    return batch;
  }

  function settle(batch: Pending<I, O>[], results: PromiseSettledResult<O>[]) {
    batch.forEach((pending, index) => {
      const result = results[index];
      if (result === undefined) pending.reject(new Error(`the batch answered no result for item ${index}`));
      else if (result.status === 'fulfilled') pending.resolve(result.value);
      else pending.reject(result.reason);
    });
  }

  function pump() {
    if (inFlight < maxInFlight) dropExpired();
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = takeBatch();
      inFlight += 1;
      // The slot is free again before the answers go out, so an item sent in reply to one goes at once.
      const finish = (answer: () => void) => {
        inFlight -= 1;
        pump();
        answer();
      };
      let running: Promise<PromiseSettledResult<O>[]>;
      try {
        running = run(batch.map(({ item }) => item));
      } catch (error) {
        running = Promise.reject(error);
      }
      running.then(
        (results) => finish(() => settle(batch, results)),
        (error: unknown) =>
          finish(() => {
            for (const pending of batch) pending.reject(error);
          }),
      );
    }
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, queuedAt: expiry ? Date.now() : 0, resolve, reject });
      pump();
    });
}
