import { cp, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

// Just enough of Dockerfile and .dockerignore to replay a build in a shell where Docker cannot run.

export type Instruction = { keyword: string; flags: Record<string, string>; args: string; line: number };
export type Stage = { name: string; instructions: Instruction[] };

/** The stages of a Dockerfile, each with its instructions; continuation lines joined, comments dropped. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const start = index + 1;
    let logical = lines[index]?.trim() ?? '';
    if (logical === '' || logical.startsWith('#')) continue;
    while (logical.endsWith('\\')) {
      logical = `${logical.slice(0, -1).trimEnd()} ${(lines[++index] ?? '').trim()}`;
    }
    const [keyword = '', ...rest] = logical.split(/\s+/);
    let args = rest.join(' ');
    const flags: Record<string, string> = {};
    for (let flag = /^--([a-z-]+)=(\S+)\s*/.exec(args); flag; flag = /^--([a-z-]+)=(\S+)\s*/.exec(args)) {
      flags[flag[1] ?? ''] = flag[2] ?? '';
      args = args.slice(flag[0].length);
    }
    const instruction = { keyword: keyword.toUpperCase(), flags, args, line: start };
    if (instruction.keyword === 'FROM') {
      const name = /\bAS\s+(\S+)$/i.exec(args)?.[1] ?? String(stages.length);
      stages.push({ name, instructions: [instruction] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile line ${start}: ${keyword} before FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** The JSON array of an exec-form CMD (the only form the smoke test runs). */
export function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string')) {
    throw new Error(`not an exec-form command: ${args}`);
  }
  return parsed;
}

/** `ENV a=1 b=2` into pairs; values may be double-quoted. */
export function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = match[2] ?? '';
    env[match[1] ?? ''] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return env;
}

type Rule = { pattern: RegExp; isExclusion: boolean };

/** A .dockerignore as a predicate on context-relative paths: the last matching rule wins, `!` re-includes. */
export function parseDockerignore(text: string): (relativePath: string) => boolean {
  const rules: Rule[] = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const isExclusion = !line.startsWith('!');
      const glob = path.posix.normalize((isExclusion ? line : line.slice(1)).replace(/^\/+/, ''));
      return { pattern: globToRegExp(glob), isExclusion };
    });
  return (relativePath) => {
    let isIgnored = false;
    for (const rule of rules) if (rule.pattern.test(relativePath)) isIgnored = rule.isExclusion;
    return isIgnored;
  };
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index] ?? '';
    if (char === '*' && glob[index + 1] === '*') {
      source += '.*';
      index += glob[index + 2] === '/' ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern that names a directory takes everything below it.
  return new RegExp(`^${source}(?:/.*)?$`);
}

/** Copies the build context as the daemon would receive it, without what .dockerignore leaves out. */
export async function copyContext(from: string, to: string): Promise<string[]> {
  const ignorefile = await readFile(path.join(from, '.dockerignore'), 'utf8').catch(() => '');
  const isIgnored = parseDockerignore(ignorefile);
  const copied: string[] = [];
  async function walk(relative: string): Promise<void> {
    for (const entry of await readdir(path.join(from, relative), { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (isIgnored(child)) continue;
      if (entry.isDirectory()) {
        await mkdir(path.join(to, child), { recursive: true });
        await walk(child);
      } else if (entry.isFile()) {
        await cp(path.join(from, child), path.join(to, child));
        copied.push(child);
      }
    }
  }
  await mkdir(to, { recursive: true });
  await walk('');
  return copied;
}
