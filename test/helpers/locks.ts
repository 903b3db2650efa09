import pg from 'pg';
import { afterEach, beforeEach } from 'vitest';

const LOCK_WAIT_TIMEOUT_MS = 5000;

/**
 * A second session on each test's schema, to hold row locks that the code under test must wait for; rolled
 * back and closed after each test.
 */
export function useOtherSession(database: () => { url?: string; schema?: string }): () => pg.Client {
  let other: pg.Client | undefined;
  beforeEach(async () => {
    const { url, schema } = database();
    other = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await other.connect();
  });
  afterEach(async () => {
    await other?.query('rollback');
    await other?.end();
    other = undefined;
  });
  return () => {
    if (!other) throw new Error('the other session exists only during a test');
    return other;
  };
}

/** Resolves once `count` sessions wait, directly or behind one another, on `other`'s locks. */
export async function waitUntilBlocked(other: pg.Client, count: number): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if ((await sessionsBlockedBy(other)) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`fewer than ${count} sessions waited for the lock`);
}

// pg_locks is read live, unlike pg_stat_activity, which is frozen for the rest of the open transaction.
// A second waiter on a row queues behind the first waiter's tuple lock, not the holder's, hence the closure.
async function sessionsBlockedBy(other: pg.Client): Promise<number> {
  const { rows } = await other.query<{ pid: number; blockers: number[]; self: number }>(
    `select distinct pid, pg_blocking_pids(pid) as blockers, pg_backend_pid() as self
     from pg_locks where not granted`,
  );
  const blocked = new Set<number>();
  const roots = new Set<number>([rows[0]?.self ?? -1]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows) {
      if (blocked.has(row.pid) || !row.blockers.some((pid) => roots.has(pid))) continue;
      blocked.add(row.pid);
      roots.add(row.pid);
      grew = true;
    }
  }
  return blocked.size;
}
