/** Set-up: the machine the run is on, and pinning the servers and the load generator to a core each. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { LOADER_CPU, ROOT, SERVER_CPU } from './config.js';
import type { Server } from './servers.js';
import { round2 } from './util.js';

export type Pinning = { enabled: boolean; reason: string; serverCpu?: string; loaderCpu?: string };
export type Machine = {
  nproc: number;
  cpuModel: string;
  cpuMhz: number;
  memoryGb: number;
  kernel: string;
  node: string;
  postgres?: string;
  postgresSettings?: Record<string, string>;
  /** 1-minute load average before the start: anything else busy on the machine skews the numbers. */
  loadBefore: number;
};

export function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    cpuMhz: Math.round(Number(/^cpu MHz\s*:\s*([\d.]+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.speed ?? 0)),
    memoryGb: round2(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    loadBefore: round2(loadavg()[0] ?? 0),
  };
}

export function decidePinning(nproc: number): Pinning {
  if (nproc < 2) return { enabled: false, reason: `unpinned: nproc is ${nproc}, pinning needs 2 cores` };
  if (spawnSync('taskset', ['--version']).status !== 0)
    return { enabled: false, reason: 'unpinned: taskset is not installed' };
  return {
    enabled: true,
    reason: `servers on CPU ${SERVER_CPU}, load generator on CPU ${LOADER_CPU}, PostgreSQL unpinned`,
    serverCpu: SERVER_CPU,
    loaderCpu: LOADER_CPU,
  };
}

// The benchmark measures the compiled JS that `npm start` runs, never tsx-transpiled sources.
export function buildService(): void {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
}

// `-a`: every thread (libuv pool, V8 helpers), not only the main one, which is all `taskset -p` moves.
export function pinThisProcess(): void {
  execFileSync('taskset', ['-a', '-cp', LOADER_CPU, String(process.pid)], { stdio: 'ignore' });
  const threads = readdirSync(`/proc/${process.pid}/task`);
  const stray = threads.filter(
    (tid) => allowedCpus(`/proc/${process.pid}/task/${tid}/status`) !== LOADER_CPU,
  );
  if (stray.length > 0) throw new Error(`threads ${stray.join(', ')} of the load generator are not pinned`);
}

export function verifyServersPinned(servers: Server[]): void {
  for (const { name, process: child } of servers) {
    const cpus = allowedCpus(`/proc/${child.pid}/status`);
    if (cpus !== SERVER_CPU) throw new Error(`${name} server runs on CPUs ${cpus}, not ${SERVER_CPU}`);
  }
}

function allowedCpus(statusFile: string): string | undefined {
  return /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(statusFile, 'utf8'))?.[1];
}
