/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): where the sampled time went, by function and
 * by package or file, as self time (the function was on top of the stack) and, per package, as inclusive
 * time (the package was anywhere on the stack).
 *
 * Used by `scripts/bench/profile.ts` (BENCH_PROFILE=1); also runs on its own:
 *   npx tsx scripts/cpuprofile-summary.ts bench-results/profiles/x.cpuprofile [--top 15] [--from µs --to µs]
 * (the bench's `.summary.json` next to each profile holds the window it used).
 *
 * Time per sample is the gap to the next sample (the last one runs to `endTime`), the way Chrome DevTools
 * reads these files. `from`/`to` (microseconds on the profile's clock, which is CLOCK_MONOTONIC, the clock of
 * `process.hrtime`) keep only the samples of the load, not the start-up or the shutdown.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type CallFrame = {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
  scriptId: string;
};
export type ProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] };
export type CpuProfile = {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
};

export type Entry = { name: string; ms: number; share: number };
export type ProfileSummary = {
  file: string;
  /** The kept time range, µs on the profile's clock (null: from the start or to the end). */
  window: { fromMicros: number | null; toMicros: number | null };
  /** Wall time the kept samples cover. */
  sampledMs: number;
  samples: number;
  /** Shares of the sampled time: waiting for I/O, V8's GC, and V8/native work without a JS frame. */
  idleShare: number;
  gcShare: number;
  programShare: number;
  byFunction: Entry[];
  byPackage: Entry[];
  inclusiveByPackage: Entry[];
};

export type SummaryOptions = {
  /** Keep samples taken at or after this time (µs, the profile's clock). */
  fromMicros?: number;
  /** Keep samples taken at or before this time (µs). */
  toMicros?: number;
  /** The project root, so the project's own files read as `dist/…` rather than `file:///…`. */
  root?: string;
  top?: number;
};

// V8's pseudo-frames: not code anyone can change, but worth seeing next to it.
const SPECIAL = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

export function summarizeProfile(profile: CpuProfile, file: string, options: SummaryOptions = {}) {
  const { fromMicros = -Infinity, toMicros = Infinity, root = process.cwd(), top = 15 } = options;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);

  const selfByNode = new Map<number, number>();
  let time = profile.startTime;
  const times = profile.timeDeltas.map((delta) => {
    time += delta;
    return time;
  });
  let sampledMicros = 0;
  let kept = 0;
  profile.samples.forEach((nodeId, index) => {
    const at = times[index] ?? profile.startTime;
    if (at < fromMicros || at > toMicros) return;
    const next = times[index + 1] ?? profile.endTime;
    const duration = Math.max(0, next - at);
    selfByNode.set(nodeId, (selfByNode.get(nodeId) ?? 0) + duration);
    sampledMicros += duration;
    kept += 1;
  });

  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [nodeId, micros] of selfByNode) {
    const node = nodes.get(nodeId);
    if (!node) continue;
    add(byFunction, functionLabel(node.callFrame, root), micros);
    add(byPackage, packageLabel(node.callFrame, root), micros);
    // Inclusive: every package on the stack once, however many of its frames the stack holds.
    const onStack = new Set<string>();
    for (let id: number | undefined = nodeId; id !== undefined; id = parents.get(id)) {
      const frame = nodes.get(id)?.callFrame;
      if (frame && !SPECIAL.has(frame.functionName)) onStack.add(packageLabel(frame, root));
      else if (frame && id === nodeId) onStack.add(frame.functionName);
    }
    for (const label of onStack) add(inclusive, label, micros);
  }

  const share = (label: string) => (byFunction.get(label) ?? 0) / (sampledMicros || 1);
  const summary: ProfileSummary = {
    file,
    window: {
      fromMicros: Number.isFinite(fromMicros) ? fromMicros : null,
      toMicros: Number.isFinite(toMicros) ? toMicros : null,
    },
    sampledMs: sampledMicros / 1000,
    samples: kept,
    idleShare: share('(idle)'),
    gcShare: share('(garbage collector)'),
    programShare: share('(program)'),
    byFunction: ranked(byFunction, sampledMicros, top),
    byPackage: ranked(byPackage, sampledMicros, top),
    inclusiveByPackage: ranked(inclusive, sampledMicros, top),
  };
  return summary;
}

function add(map: Map<string, number>, key: string, micros: number) {
  map.set(key, (map.get(key) ?? 0) + micros);
}

function ranked(map: Map<string, number>, totalMicros: number, top: number): Entry[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => ({ name, ms: micros / 1000, share: micros / (totalMicros || 1) }));
}

/** `name file:line`, the file shortened to the project, a package, or a Node.js core module. */
function functionLabel(frame: CallFrame, root: string): string {
  const name = frame.functionName || '(anonymous)';
  if (SPECIAL.has(name)) return name;
  if (!frame.url) return `${name} (native)`;
  return `${name} ${shortUrl(frame.url, root)}:${frame.lineNumber + 1}`;
}

/** node_modules by package, the project's own code by file, Node.js core by module. */
export function packageLabel(frame: CallFrame, root: string): string {
  if (SPECIAL.has(frame.functionName)) return frame.functionName;
  const { url } = frame;
  if (!url) return '(native: V8 builtins, C++ bindings)';
  if (url.startsWith('node:')) return url;
  const marker = '/node_modules/';
  const at = url.lastIndexOf(marker);
  if (at >= 0) {
    const [first = '', second = ''] = url.slice(at + marker.length).split('/');
    return first.startsWith('@') ? `${first}/${second}` : first;
  }
  return `app: ${shortUrl(url, root)}`;
}

function shortUrl(url: string, root: string): string {
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const marker = '/node_modules/';
  const at = file.lastIndexOf(marker);
  if (at >= 0) return file.slice(at + marker.length);
  return path.isAbsolute(file) ? path.relative(root, file) : file;
}

export function formatSummary(summary: ProfileSummary, title: string, top = 15): string {
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  const table = (heading: string, entries: Entry[]) => [
    heading,
    ...entries
      .slice(0, top)
      .map(
        (entry) =>
          `  ${percent(entry.share).padStart(6)} ${entry.ms.toFixed(0).padStart(7)} ms  ${entry.name}`,
      ),
  ];
  return [
    `${title}: ${summary.samples} samples over ${(summary.sampledMs / 1000).toFixed(1)} s; ` +
      `idle ${percent(summary.idleShare)}, GC ${percent(summary.gcShare)}, (program) ${percent(summary.programShare)}`,
    ...table('self time by function', summary.byFunction),
    ...table('self time by package / file', summary.byPackage),
    ...table('inclusive time by package / file (on the stack anywhere)', summary.inclusiveByPackage),
  ].join('\n');
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

// Run directly: summarise the files given on the command line.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args.splice(at, 2)[1]) : undefined;
  };
  const top = option('--top') ?? 15;
  const fromMicros = option('--from');
  const toMicros = option('--to');
  if (args.length === 0) {
    process.stderr.write('usage: tsx scripts/cpuprofile-summary.ts <file.cpuprofile>… [--top N]\n');
    process.exit(2);
  }
  for (const file of args) {
    const summary = summarizeProfile(readProfile(file), file, {
      top,
      root: process.cwd(),
      ...(fromMicros === undefined ? {} : { fromMicros }),
      ...(toMicros === undefined ? {} : { toMicros }),
    });
    process.stdout.write(`${formatSummary(summary, path.basename(file), top)}\n\n`);
  }
}
