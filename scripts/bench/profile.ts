/** The profile phase: one server process per endpoint under `node --cpu-prof`, summarised by function and package. */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ProfileSummary, readProfile, summarizeProfile } from '../cpuprofile-summary.js';
import {
  CATALOG_GET,
  HELLO_ARGS,
  HELLO_GET,
  PROFILE_DIR,
  PROFILE_STOP_GRACE_MS,
  RECHARGE_POST,
  ROOT,
  SECONDS,
  SERVICE_ENTRY,
  WARMUP_SECONDS,
} from './config.js';
import { generateLoad } from './load.js';
import type { Pinning } from './machine.js';
import { startServer, stopServer, waitUntilReady } from './servers.js';
import { progress } from './util.js';

/**
 * One `--cpu-prof` server per endpoint, so each profile holds one kind of request; the hello-world is profiled
 * too (set BENCH_PROFILE_HELLO=0 to skip it), as the floor: what the framework, Node.js and the kernel cost
 * for any request.
 */
export async function profilePhase(serviceEnv: Record<string, string>, pinning: Pinning) {
  await mkdir(PROFILE_DIR, { recursive: true });
  const runs = [
    { target: CATALOG_GET, entry: [SERVICE_ENTRY], env: serviceEnv, probe: '/readyz' },
    { target: RECHARGE_POST, entry: [SERVICE_ENTRY], env: serviceEnv, probe: '/readyz' },
    ...(process.env.BENCH_PROFILE_HELLO === '0'
      ? []
      : [
          {
            target: HELLO_GET,
            entry: HELLO_ARGS,
            env: {},
            probe: '/hello',
          },
        ]),
  ];
  const profiles: Array<{ title: string; file: string; requestsPerSecond: number; summary: ProfileSummary }> =
    [];
  for (const { target, entry, env, probe } of runs) {
    const slug = target.name.replace(/\s+/g, '-').toLowerCase();
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // A directory per run: Node.js writes one profile per thread (tsx's loader has a thread of its own), named
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; the main thread's is thread 0.
    const threadsDir = path.join(PROFILE_DIR, `${slug}-${stamp}`);
    const server = await startServer(
      `profiled ${target.name}`,
      ['--cpu-prof', `--cpu-prof-dir=${threadsDir}`, ...entry],
      env,
      pinning,
    );
    await waitUntilReady(server, probe);
    progress(`profile: ${target.name} for ${SECONDS} s…`);
    await generateLoad(target, server.baseUrl, WARMUP_SECONDS);
    // process.hrtime and V8's profile timestamps are both CLOCK_MONOTONIC in µs on Linux.
    const fromMicros = Number(process.hrtime.bigint() / 1000n);
    const result = await generateLoad(target, server.baseUrl, SECONDS);
    const toMicros = Number(process.hrtime.bigint() / 1000n);
    const code = await stopServer(server, PROFILE_STOP_GRACE_MS);
    const mainThread = existsSync(threadsDir)
      ? readdirSync(threadsDir).find((name) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name))
      : undefined;
    if (!mainThread)
      throw new Error(`${server.name} exited with ${code} and left no main-thread profile in ${threadsDir}`);
    const file = path.join(PROFILE_DIR, `${slug}-${stamp}.cpuprofile`);
    await rename(path.join(threadsDir, mainThread), file);
    await rm(threadsDir, { recursive: true, force: true });
    let summary = summarizeProfile(readProfile(file), file, { fromMicros, toMicros, root: ROOT, top: 40 });
    // Should the clocks ever disagree, the whole profile (start-up included) is better than nothing.
    let title = `PROFILE ${target.name} (${result.requests.average.toFixed(0)} req/s under --cpu-prof), ${path.relative(ROOT, file)}`;
    if (summary.samples === 0) {
      summary = summarizeProfile(readProfile(file), file, { root: ROOT, top: 40 });
      title += ' [whole profile: the load window matched no samples]';
    }
    await writeFile(file.replace(/\.cpuprofile$/, '.summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    profiles.push({
      title,
      file: path.relative(ROOT, file),
      requestsPerSecond: result.requests.average,
      summary,
    });
  }
  return profiles;
}
