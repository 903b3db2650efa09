import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

/** The directories this process holds, by resolved path. */
const held = new Set<string>();

const FILE = 'recharge-api.lock';

/** Whether a process with this id is running (one we may not signal is running too). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is one PostgreSQL session over plain files, with no lock of its own: two processes on one data
 * directory each keep their own view and overwrite each other's writes, so a key or a deposit one makes is
 * lost when the other closes. The directory is held through a file naming this process; a file naming a
 * process that no longer runs (one killed before it could remove it) is taken over. Returns the release.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const directory = path.resolve(dataDir);
  const file = path.join(directory, FILE);
  if (held.has(directory)) throw dataDirBusy(directory, process.pid);
  for (let attempt = 0; ; attempt += 1) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      // Our own id in a file we do not hold: a process before us (a restarted container's) had it.
      if (Number.isInteger(holder) && holder !== process.pid && isRunning(holder)) {
        throw dataDirBusy(directory, holder);
      }
      await rm(file, { force: true });
    }
  }
  held.add(directory);
  return async () => {
    held.delete(directory);
    await rm(file, { force: true });
  };
}

/** Another process has the embedded database open. */
export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
}

function dataDirBusy(directory: string, pid: number): DataDirBusyError {
  return new DataDirBusyError(
    `the embedded database in ${directory} is already open by process ${pid}; PGlite serves one process ` +
      'at a time: stop that process first, or make the change through the running API ' +
      '(POST /ApiKeys, POST /LedgerEntries), or use PostgreSQL (DATABASE_URL) to share one database',
  );
}
