/** Set-up: the hello-world and service processes, started (pinned when possible), probed and stopped. */
import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanups } from './cleanup.js';
import {
  HELLO_ARGS,
  OUTPUT_TAIL_CHARS,
  READY_TIMEOUT_MS,
  ROOT,
  SERVER_CPU,
  SERVICE_ENTRY,
  type ServerName,
  STOP_GRACE_MS,
} from './config.js';
import { type Pinning, verifyServersPinned } from './machine.js';
import { ownPids } from './proc.js';
import { progress } from './util.js';

export type Server = {
  name: string;
  process: ChildProcess;
  baseUrl: string;
  /** The last few KiB of its stdout and stderr, to explain a failed start. */
  outputTail: string;
  exit: Promise<number | null>;
};

export async function startServer(
  name: string,
  nodeArgs: string[],
  env: Record<string, string>,
  pinning: Pinning,
): Promise<Server> {
  const port = await findFreePort();
  const command = pinning.enabled
    ? ['taskset', '-c', SERVER_CPU, 'node', ...nodeArgs]
    : ['node', ...nodeArgs];
  // taskset execs node in place, so the child's pid is node's and signals reach it directly.
  const child = spawn(command[0] as string, command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) ownPids.add(child.pid);
  const server: Server = {
    name,
    process: child,
    baseUrl: `http://127.0.0.1:${port}`,
    outputTail: '',
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  // Drained continuously: a full pipe would block the server; the tail explains a failed start.
  const keepTail = (chunk: Buffer) => {
    // Cheap on purpose: at LOG_LEVEL=info the service writes two lines per request, read on the loader's CPU.
    server.outputTail = (server.outputTail + chunk.toString('latin1')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  cleanups.push(() => stopServer(server).then(() => undefined));
  return server;
}

async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function waitUntilReady(server: Server, probePath: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = false;
  void server.exit.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${server.name} exited during start-up:\n${server.outputTail}`);
    try {
      const response = await fetch(`${server.baseUrl}${probePath}`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${server.name} not ready after ${READY_TIMEOUT_MS} ms:\n${server.outputTail}`);
}

/** SIGTERM, then SIGKILL after the grace; resolves to the exit code (null when it had to be killed). */
export async function stopServer(server: Server, graceMs = STOP_GRACE_MS): Promise<number | null> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return server.process.exitCode;
  server.process.kill('SIGTERM');
  const code = await Promise.race([server.exit, sleep(graceMs).then(() => 'timeout' as const)]);
  if (code !== 'timeout') return code;
  progress(`${server.name} still running ${graceMs} ms after SIGTERM; sending SIGKILL`);
  server.process.kill('SIGKILL');
  await server.exit;
  return null;
}

export type RoundServers = { baseUrls: Record<ServerName, string>; stop(): Promise<void> };

/** The service, and the hello-world when asked, started side by side; resolves once both answer (and are pinned). */
export async function startServers(
  serviceEnv: Record<string, string>,
  pinning: Pinning,
  { withHello }: { withHello: boolean },
): Promise<{ hello: Server | undefined; service: Server }> {
  const hello = withHello ? await startServer('hello', HELLO_ARGS, {}, pinning) : undefined;
  const service = await startServer('service', [SERVICE_ENTRY], serviceEnv, pinning);
  if (hello) await waitUntilReady(hello, '/hello');
  await waitUntilReady(service, '/readyz');
  if (pinning.enabled) verifyServersPinned(hello ? [hello, service] : [service]);
  return { hello, service };
}

/**
 * A hello-world and a service started for one round, on the same schema as the phases' own service. The same
 * build runs several per cent faster or slower from one process to the next (docs/performance.md), so a run
 * that kept one pair of processes for all its rounds would measure that pair's luck as often as it has rounds.
 */
export async function startRoundServers(
  serviceEnv: Record<string, string>,
  pinning: Pinning,
): Promise<RoundServers> {
  const { hello, service } = await startServers(serviceEnv, pinning, { withHello: true });
  if (!hello) throw new Error('the round has no hello-world');
  return {
    baseUrls: { hello: hello.baseUrl, service: service.baseUrl },
    async stop() {
      await stopServer(hello);
      await stopServer(service);
    },
  };
}
