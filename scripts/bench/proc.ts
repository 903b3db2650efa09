/** Process CPU accounting from /proc: how busy the machine was with other work while each phase ran. */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { BUSY_SHARE, TICKS_PER_SECOND } from './config.js';
import { progress, round2, round3 } from './util.js';

/** How busy the machine was with other work while a phase ran. */
export type PhaseLoad = {
  phase: string;
  seconds: number;
  loadStart: number;
  loadEnd: number;
  /** This benchmark's CPU time (load generator and servers), as a share of all cores. */
  ownShare: number;
  /** CPU time of everything else but PostgreSQL, as a share of all cores. */
  otherShare: number;
  /** Time the hypervisor gave to other guests, as a share of all cores. */
  stealShare: number;
  /** PostgreSQL's CPU time (any database: other test suites' too), as a share of all cores. */
  postgresShare: number;
  busiestOthers: string[];
};

export const ownPids = new Set<number>([process.pid]);
export const phaseLoads: PhaseLoad[] = [];

/**
 * Runs a phase and records how busy the machine was with other work meanwhile: all CPU time the kernel counted
 * (/proc/stat), less this benchmark's (itself, its servers, and servers that exited, through cutime/cstime)
 * and PostgreSQL's. Short-lived processes of other test suites are counted too, which a per-process view
 * would miss.
 */
export async function inPhase<T>(phase: string, work: () => Promise<T>): Promise<T> {
  const loadStart = round2(loadavg()[0] ?? 0);
  const before = { machine: machineTicks(), processes: processTicks() };
  const started = Date.now();
  const result = await work();
  const after = { machine: machineTicks(), processes: processTicks() };
  const seconds = (Date.now() - started) / 1000;
  const capacity = after.machine.total - before.machine.total || 1;
  const ownUsed = ownTicks(after.processes) - ownTicks(before.processes);
  const postgres = postgresTicks(after.processes) - postgresTicks(before.processes);
  const others = new Map<string, number>();
  for (const [pid, { comm, ticks }] of after.processes) {
    const used = ticks - (before.processes.get(pid)?.ticks ?? 0);
    if (used <= 0 || ownPids.has(pid) || comm === 'postgres') continue;
    others.set(comm, (others.get(comm) ?? 0) + used);
  }
  const busy = after.machine.busy - before.machine.busy;
  const other = Math.max(0, busy - ownUsed - postgres);
  const load: PhaseLoad = {
    phase,
    seconds: round2(seconds),
    loadStart,
    loadEnd: round2(loadavg()[0] ?? 0),
    ownShare: round3(ownUsed / capacity),
    otherShare: round3(other / capacity),
    postgresShare: round3(postgres / capacity),
    stealShare: round3((after.machine.steal - before.machine.steal) / capacity),
    busiestOthers: [...others]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .filter(([, ticks]) => ticks >= TICKS_PER_SECOND)
      .map(([comm, ticks]) => `${comm} ${(ticks / TICKS_PER_SECOND).toFixed(0)} CPU-s`),
  };
  phaseLoads.push(load);
  progress(`${phase}: ${describeLoad(load)}`);
  return result;
}

export function describeLoad(load: PhaseLoad): string {
  const percent = (share: number) => `${(share * 100).toFixed(0).padStart(2)}%`;
  return (
    `${load.seconds.toFixed(0).padStart(4)} s  load ${load.loadStart.toFixed(2)} → ${load.loadEnd.toFixed(2)}  ` +
    `CPU: bench ${percent(load.ownShare)}, PostgreSQL ${percent(load.postgresShare)}, ` +
    `other ${percent(load.otherShare)}, steal ${percent(load.stealShare)}` +
    (load.busiestOthers.length ? ` (${load.busiestOthers.join(', ')})` : '') +
    (load.otherShare > BUSY_SHARE ? '  <- disturbed' : '')
  );
}

/** The machine's CPU time so far: busy (user, nice, system, irq, softirq), stolen by the hypervisor, total. */
function machineTicks(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return {
    busy: user + nice + system + irq + softirq,
    steal,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  };
}

type ProcessTicks = { comm: string; ticks: number; childrenTicks: number };

/** utime + stime of every live process, by pid, and cutime + cstime (its reaped children's). */
export function processTicks(): Map<number, ProcessTicks> {
  const ticks = new Map<number, ProcessTicks>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      // Fields from the state (3rd) on: utime is the 14th, stime the 15th, cutime and cstime next.
      const fields = stat
        .slice(close + 2)
        .split(' ')
        .map(Number);
      ticks.set(Number(entry), {
        comm,
        ticks: (fields[11] ?? 0) + (fields[12] ?? 0),
        childrenTicks: (fields[13] ?? 0) + (fields[14] ?? 0),
      });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return ticks;
}

// Every PostgreSQL process, plus the backends that exited (the postmaster's reaped children): the pool closes
// connections idle for 10 s, so backends come and go between rounds. All databases, other suites' too.
export function postgresTicks(processes: Map<number, ProcessTicks>): number {
  let total = 0;
  for (const { comm, ticks, childrenTicks } of processes.values())
    if (comm === 'postgres') total += ticks + childrenTicks;
  return total;
}

// This process with its reaped children (servers that exited), plus the servers still running.
function ownTicks(processes: Map<number, ProcessTicks>): number {
  const self = processes.get(process.pid);
  let total = (self?.ticks ?? 0) + (self?.childrenTicks ?? 0);
  for (const [pid, { ticks }] of processes) if (pid !== process.pid && ownPids.has(pid)) total += ticks;
  return total;
}

export function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 1;
  }
}
