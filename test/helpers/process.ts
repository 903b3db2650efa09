import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { rechargeBody, TEST_ADMIN_KEY } from './app.js';

/** A script of src/ run as `npm run` would, with all it writes to stdout and stderr. */
export type ScriptProcess = {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
};

export type ServerProcess = ScriptProcess & { port: number; dataDir: string };

/** Runs `script` (a path under src/) in a child process with `env` over this process's environment. */
export function spawnScript(script: string, env: Record<string, string> = {}): ScriptProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, output: () => output, exited };
}

/** Starts `src/server.ts` in a child process, as `npm start` would, and waits until it listens. */
export async function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  const dataDir = env.DATA_DIR ?? (await mkdtemp(path.join(tmpdir(), 'recharge-api-')));
  const { child, output, exited } = spawnScript('src/server.ts', {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    ...env,
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output());
      if (match?.[1]) {
        clearInterval(timer);
        resolve(Number(match[1]));
      }
    }, 50);
    exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output()}`));
    });
  });
  return { child, port, dataDir, output, exited };
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

/** Polls GET /readyz until 200, as a load balancer would: a process busy starting up may shed its first requests. */
export async function untilReady(server: ServerProcess, timeout = 10_000): Promise<void> {
  const readiness = () =>
    fetch(`http://127.0.0.1:${server.port}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
  await expect.poll(readiness, { timeout, interval: 100 }).toBe(200);
}

/**
 * Sends `count` recharges to `server` at once, half of them to numbers the sandbox carrier credits and a
 * quarter each to endings it refuses (9001 invalid_number, 9009 carrier_declined), and SIGKILLs the server
 * once `answeredBefore` of them are answered. The statuses in order, 0 for a request the kill cut off.
 */
export async function killDuringRechargeBurst(
  server: ServerProcess,
  key: string,
  count: number,
  answeredBefore: number,
): Promise<number[]> {
  const endings = ['1234', '9001', '5678', '9009'];
  let answered = 0;
  const burst = Array.from({ length: count }, (_, index) =>
    fetch(`http://127.0.0.1:${server.port}/PhoneRecharges`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        ...rechargeBody,
        phone_number: `55119${String(index).padStart(4, '0')}${endings[index % 4]}`,
      }),
    }).then(
      (response) => {
        answered += 1;
        return response.status;
      },
      () => 0,
    ),
  );
  await expect.poll(() => answered, { timeout: 10_000, interval: 2 }).toBeGreaterThanOrEqual(answeredBefore);
  server.child.kill('SIGKILL');
  await server.exited;
  return await Promise.all(burst);
}
