/** Reporting: the report's heading (machine, pinning, service, machine load per phase) and the verdict lines. */
import { BUSY_LOAD, LOG_LEVEL, SERVICE_ENTRY, SERVICE_NODE_OPTIONS } from './config.js';
import type { Machine, Pinning } from './machine.js';
import { describeLoad, phaseLoads } from './proc.js';

export function printReport(
  machine: Machine,
  pinning: Pinning,
  report: string[],
  results: Record<string, unknown>,
) {
  const settings = Object.entries(machine.postgresSettings ?? {})
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  const lines = [
    '',
    `machine: nproc ${machine.nproc}, ${machine.cpuModel} ${machine.cpuMhz} MHz, ${machine.memoryGb} GiB, ` +
      `Linux ${machine.kernel}, node ${machine.node}, PostgreSQL ${machine.postgres}`,
    `PostgreSQL: ${settings}`,
    `pinning: ${pinning.enabled ? 'yes' : 'no'} (${pinning.reason})`,
    `service: node ${SERVICE_ENTRY}${SERVICE_NODE_OPTIONS ? ` (NODE_OPTIONS=${SERVICE_NODE_OPTIONS})` : ''}, NODE_ENV=production LOG_LEVEL=${LOG_LEVEL}, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS=0 (load shedding off), ` +
      'rate limits on at their maxima (1e6/min per key and client, 1e7/min per address)',
    `load average (1 min) before the start: ${machine.loadBefore}` +
      (machine.loadBefore > BUSY_LOAD
        ? ' — something else used the CPUs in the last minute; expect noise'
        : ''),
    ...phaseLoads.map((load) => `  ${load.phase.padEnd(11)}${describeLoad(load)}`),
    ...report,
  ];
  const database = results.database as { rechargesStored: number; idempotencyKeysStored: number } | undefined;
  if (database)
    lines.push(
      '',
      `recharges stored: ${database.rechargesStored}, idempotency keys stored: ${database.idempotencyKeysStored} ` +
        '(schema dropped at exit)',
    );
  lines.push('', 'targets are reported, not asserted: the exit code is 0 unless a request failed');
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function verdict(label: string, value: string, limit: string, pass: boolean): string {
  return `${label.padEnd(28)} ${value.padStart(10)}   target ${limit.padEnd(12)} ${pass ? 'PASS' : 'FAIL'}`;
}
