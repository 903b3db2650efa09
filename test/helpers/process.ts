import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_ADMIN_KEY } from './app.js';

export type ServerProcess = {
  child: ChildProcess;
  port: number;
  dataDir: string;
  output: () => string;
  exited: Promise<number | null>;
};

/** Starts `src/server.ts` in a child process, as `npm start` would, and waits until it listens. */
export async function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  const dataDir = env.DATA_DIR ?? (await mkdtemp(path.join(tmpdir(), 'recharge-api-')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_API_KEY: TEST_ADMIN_KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match?.[1]) {
        clearInterval(timer);
        resolve(Number(match[1]));
      }
    }, 50);
    exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
  return { child, port, dataDir, output: () => output, exited };
}

/**
 * Start-up migrations introspect every schema (Kysely's Migrator calls has_schema_privilege on each), so
 * a schema that a parallel suite drops at that moment fails them with 3F000. Only that case, naming a
 * schema other than ours, is retried; see src/db/migrate.ts.
 */
export async function startServerDespiteDroppedSchemas(
  env: Record<string, string>,
  schema: string,
): Promise<ServerProcess> {
  try {
    return await startServerProcess(env);
  } catch (error) {
    const dropped = /schema "([^"]+)" does not exist/.exec(String(error))?.[1];
    if (dropped === undefined || dropped === schema) throw error;
    return startServerProcess(env);
  }
}
