import type { RechargeRecord } from './recharges.repository.js';

const FINAL = new Set(['completed', 'failed', 'reversed']);

export function isFinal(recharge: Pick<RechargeRecord, 'status'>): boolean {
  return FINAL.has(recharge.status);
}

type Waiter = { resolve: (recharge: RechargeRecord | null) => void; timer: NodeJS.Timeout };

export type OutcomeWaitersOptions = {
  /** Reads the current state of recharges, for outcomes recorded by another instance's dispatcher. */
  find: (ids: string[]) => Promise<RechargeRecord[]>;
  /** How often the recharges still awaited are looked up, all in one query. */
  sweepMs?: number;
};

/**
 * Requests that wait for a recharge's outcome (`Prefer: wait`). A waiter is a promise and a timer in a
 * map: it holds no database connection and no dispatcher slot. Outcomes recorded by this instance settle
 * their waiters at once; those recorded elsewhere are found by one query per sweep for all waiters.
 */
export function createOutcomeWaiters({ find, sweepMs = 500 }: OutcomeWaitersOptions) {
  const waiters = new Map<string, Set<Waiter>>();
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping = false;
  /** Set by close(): the instance is shutting down and nothing it waits for will change here. */
  let closed = false;

  function settle(recharges: RechargeRecord[]) {
    for (const recharge of recharges) {
      if (!isFinal(recharge)) continue;
      const set = waiters.get(recharge.id);
      if (!set) continue;
      waiters.delete(recharge.id);
      for (const waiter of set) {
        clearTimeout(waiter.timer);
        waiter.resolve(recharge);
      }
    }
    if (waiters.size === 0) stopSweeping();
  }

  async function sweep() {
    if (sweeping || waiters.size === 0) return;
    sweeping = true;
    try {
      settle(await find([...waiters.keys()]));
    } catch {
      // The database is away: the waiters answer at their deadline with what can be read then.
    } finally {
      sweeping = false;
    }
  }

  function stopSweeping() {
    clearInterval(sweepTimer);
    sweepTimer = undefined;
  }

  return {
    /** The recharge once final, or null if `ms` passed first. */
    wait(id: string, ms: number): Promise<RechargeRecord | null> {
      // Closed: the request answers with the recharge as it is, at once.
      if (closed) return Promise.resolve(null);
      return new Promise((resolve) => {
        const waiter: Waiter = {
          resolve,
          timer: setTimeout(() => {
            const set = waiters.get(id);
            set?.delete(waiter);
            if (set?.size === 0) waiters.delete(id);
            if (waiters.size === 0) stopSweeping();
            resolve(null);
          }, ms),
        };
        const set = waiters.get(id) ?? new Set();
        waiters.set(id, set);
        set.add(waiter);
        if (!sweepTimer) {
          sweepTimer = setInterval(() => void sweep(), sweepMs);
          sweepTimer.unref();
        }
      });
    },
    settle,
    get size() {
      let count = 0;
      for (const set of waiters.values()) count += set.size;
      return count;
    },
    /** Answers every waiter now (with null: it reads the recharge as it is) and stops the sweep. */
    close() {
      closed = true;
      for (const set of waiters.values()) {
        for (const waiter of set) {
          clearTimeout(waiter.timer);
          waiter.resolve(null);
        }
      }
      waiters.clear();
      stopSweeping();
    },
  };
}

export type OutcomeWaiters = ReturnType<typeof createOutcomeWaiters>;
