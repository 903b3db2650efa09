import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';

const LOCK = 'recharge-api.lock';
const PID = 'recharge-api.pid';
/** The holder refreshes the lock's time this often; a lock not refreshed for STALE_MS is a dead holder's. */
const UPDATE_MS = 1000;
const STALE_MS = 5000;

/** Another process has the embedded database open. */
export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
}

/**
 * PGlite is one PostgreSQL session over plain files, with no lock of its own: two processes on one data
 * directory each keep their own view and overwrite each other's writes, so a key or a deposit one makes is
 * lost when the other closes. The directory is held through `proper-lockfile`: the lock is a directory made
 * atomically (`mkdir`), whose time the holder refreshes every second. A lock not refreshed for 5 s is a dead
 * holder's (a process killed) and is taken over; one refreshed lately is refused, whatever process ids the
 * two processes have (two containers on one volume both run as pid 1). Returns the release.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = path.join(dataDir, LOCK);
  const options = { lockfilePath: lockPath, stale: STALE_MS, update: UPDATE_MS, realpath: true };
  let release: () => Promise<void>;
  try {
    release = await lock(dataDir, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    // A lock not stale yet is a running holder's, or one killed a moment ago (a restart after a crash):
    // watch it for two refreshes. Refreshed, it is held; not, its holder is gone and it is taken once stale.
    const before = await refreshedAt(lockPath);
    await sleep(2 * UPDATE_MS + 500);
    const after = await refreshedAt(lockPath);
    if (before !== undefined && after !== undefined && after > before) throw await dataDirBusy(dataDir);
    if (after !== undefined) await sleep(Math.max(0, STALE_MS - (Date.now() - after)) + 100);
    try {
      release = await lock(dataDir, options);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'ELOCKED') throw again;
      throw await dataDirBusy(dataDir);
    }
  }
  // For the message another process shows; the lock itself is the directory.
  const pidFile = path.join(dataDir, PID);
  await writeFile(pidFile, `${process.pid}\n`).catch(() => {});
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await rm(pidFile, { force: true });
    await release();
  };
}

async function refreshedAt(lockPath: string): Promise<number | undefined> {
  return (await stat(lockPath).catch(() => undefined))?.mtimeMs;
}

function lock(dataDir: string, options: lockfile.LockOptions): Promise<() => Promise<void>> {
  return lockfile.lock(dataDir, {
    ...options,
    // The lock could not be refreshed (its directory removed, the disk gone): another process may open the
    // database any moment, so this one stops before the two can write over each other.
    onCompromised: (error) => {
      process.stderr.write(`recharge-api: the lock on the embedded database was lost (${error.message})\n`);
      process.exit(1);
    },
  });
}

async function dataDirBusy(dataDir: string): Promise<DataDirBusyError> {
  const pid = (await readFile(path.join(dataDir, PID), 'utf8').catch(() => '')).trim();
  return new DataDirBusyError(
    `the embedded database in ${path.resolve(dataDir)} is already open by another process` +
      `${pid ? ` (process ${pid})` : ''}; PGlite serves one process at a time: stop that process first, ` +
      'or make the change through the running API (POST /ApiKeys, POST /LedgerEntries), or use PostgreSQL ' +
      '(DATABASE_URL) to share one database',
  );
}
