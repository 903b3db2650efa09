/** The cpu phase: CPU time per request of the server process and of PostgreSQL, at a fixed rate. */
import {
  CATALOG_GET,
  CONNECTIONS,
  CPU_RATES,
  HELLO_GET,
  RECHARGE_POST,
  SECONDS,
  type ServerName,
  TARGETS,
  TICKS_PER_SECOND,
  WARMUP_SECONDS,
} from './config.js';
import { generateLoad } from './load.js';
import { postgresTicks, processTicks } from './proc.js';
import type { Server } from './servers.js';
import { progress, round2 } from './util.js';

type CpuRow = {
  name: string;
  rate: number;
  requests: number;
  serverUsPerRequest: number;
  postgresUsPerRequest: number;
};

export async function cpuPhase(servers: Record<ServerName, Server>): Promise<CpuRow[]> {
  const rows: CpuRow[] = [];
  for (const target of TARGETS) {
    const server = servers[target.server];
    const rate = CPU_RATES[target.method];
    await generateLoad(target, server.baseUrl, WARMUP_SECONDS, rate);
    const before = processTicks();
    const result = await generateLoad(target, server.baseUrl, SECONDS, rate);
    const after = processTicks();
    const pid = server.process.pid ?? -1;
    const serverTicks = (after.get(pid)?.ticks ?? 0) - (before.get(pid)?.ticks ?? 0);
    const postgres = postgresTicks(after) - postgresTicks(before);
    const requests = result['2xx'];
    const usPerRequest = (ticks: number) => round2((ticks * (1_000_000 / TICKS_PER_SECOND)) / requests);
    rows.push({
      name: target.name,
      rate,
      requests,
      serverUsPerRequest: usPerRequest(serverTicks),
      postgresUsPerRequest: usPerRequest(postgres),
    });
    progress(`cpu  ${target.name.padEnd(14)} ${usPerRequest(serverTicks).toFixed(1).padStart(6)} µs/request`);
  }
  return rows;
}

export function cpuReport(rows: CpuRow[]): string[] {
  const byName = new Map(rows.map((row) => [row.name, row]));
  const times = (service: string, hello: string, withPostgres = false) => {
    const a = byName.get(service);
    const b = byName.get(hello);
    if (!a || !b) return 'n/a';
    const cost = (row: CpuRow) => row.serverUsPerRequest + (withPostgres ? row.postgresUsPerRequest : 0);
    return `${(cost(a) / b.serverUsPerRequest).toFixed(2)}×`;
  };
  return [
    '',
    `CPU PER REQUEST  at a fixed rate (GET ${CPU_RATES.GET}/s, POST ${CPU_RATES.POST}/s), ${CONNECTIONS} connections, ${SECONDS} s after ${WARMUP_SECONDS} s warm-up; user + system time of the server process, and of all PostgreSQL processes`,
    `${'target'.padEnd(16)}${'requests'.padStart(9)}${'server µs'.padStart(11)}${'PostgreSQL µs'.padStart(15)}`,
    ...rows.map(
      (row) =>
        `${row.name.padEnd(16)}${String(row.requests).padStart(9)}${row.serverUsPerRequest.toFixed(1).padStart(11)}${row.postgresUsPerRequest.toFixed(1).padStart(15)}`,
    ),
    '',
    `catalog GET / hello GET, CPU per request      ${times(CATALOG_GET.name, HELLO_GET.name)}`,
    `recharge POST / hello POST, CPU per request   ${times(RECHARGE_POST.name, 'hello POST')}   (${times(RECHARGE_POST.name, 'hello POST', true)} with PostgreSQL's)`,
  ];
}
