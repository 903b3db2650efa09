import { spawnSync } from 'node:child_process';
import { cp, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { execForm, parseEnv, type Stage } from './dockerfile.js';

// The stages of a parsed Dockerfile, carried out in directories: each stage's WORKDIR is a directory of
// its own, COPY copies from the context or an earlier stage, RUN runs in a shell there.

export type Built = {
  dir: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  cmd?: string[];
};
export type Healthcheck = string[];

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`container smoke: ${message}`);
}

/** The image's `node`: CONTAINER_NODE (a node binary, as `npx -p node@24` installs), else this Node. */
export const containerNode = process.env.CONTAINER_NODE || process.execPath;

/** PATH with CONTAINER_NODE's directory first: RUN's npm, and what npm starts, run on that Node too. */
export const containerPath = process.env.CONTAINER_NODE
  ? [path.dirname(containerNode), process.env.PATH].filter(Boolean).join(path.delimiter)
  : process.env.PATH;

/** The environment a RUN sees: the stage's ENV on a bare PATH, never this shell's NODE_ENV or npm_config_*. */
export function runEnv(stageEnv: Record<string, string>): NodeJS.ProcessEnv {
  const { HOME, TMPDIR } = process.env;
  // The shared npm cache makes `npm ci` fast; --prefer-offline changes nothing that gets installed.
  return {
    PATH: containerPath,
    HOME,
    TMPDIR,
    npm_config_prefer_offline: 'true',
    npm_config_update_notifier: 'false',
    ...stageEnv,
  };
}

export async function build(
  stages: Stage[],
  context: string,
  work: string,
): Promise<{ runtime: Built; healthcheck: Healthcheck }> {
  const version = spawnSync(containerNode, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  check(/^v\d+\./.test(version), `${containerNode} --version printed ${JSON.stringify(version)}`);
  const built = new Map<string, Built>();
  let healthcheck: Healthcheck | undefined;
  let current: Built | undefined;
  const inStage = (stage: Built, target: string) => {
    const absolute = path.posix.resolve(stage.workdir, target);
    check(
      absolute === stage.workdir || absolute.startsWith(`${stage.workdir}/`),
      `${target} is outside WORKDIR`,
    );
    return path.join(stage.dir, path.posix.relative(stage.workdir, absolute));
  };
  for (const stage of stages) {
    for (const { keyword, flags, args, line } of stage.instructions) {
      const where = `Dockerfile:${line} ${keyword}`;
      if (keyword === 'FROM') {
        const image = /^(?:node:(\d+)[.-]\S*slim|gcr\.io\/distroless\/nodejs(\d+))/.exec(args);
        check(image, `${where}: not a Node slim or distroless image`);
        const major = image[1] ?? image[2];
        // Chosen with CONTAINER_NODE, the Node must be the image's; by default the replay runs on this one.
        check(
          !process.env.CONTAINER_NODE || version.startsWith(`v${major}.`),
          `${where}: the image runs Node ${major}, CONTAINER_NODE is Node ${version}`,
        );
        console.log(
          `FROM ${args}: replayed on Node ${version}${process.env.CONTAINER_NODE ? ' (CONTAINER_NODE)' : ''}`,
        );
        current = { dir: path.join(work, 'stages', stage.name), workdir: '/', env: {} };
        built.set(stage.name, current);
        continue;
      }
      check(current, `${where} before FROM`);
      if (keyword === 'WORKDIR') {
        current.workdir = path.posix.resolve(current.workdir, args);
        await mkdir(current.dir, { recursive: true });
      } else if (keyword === 'COPY') {
        const parts = args.split(/\s+/);
        const dest = parts.pop() ?? '.';
        const source = flags.from ? built.get(flags.from) : undefined;
        check(!flags.from || source, `${where}: no stage ${flags.from}`);
        const into = inStage(current, dest);
        const isDirectoryDest = dest.endsWith('/') || dest === '.' || parts.length > 1;
        for (const part of parts) {
          const from = source ? inStage(source, part) : path.join(context, part);
          // A directory's contents are copied; a file goes into a directory destination by its name.
          const isDirectory = (await stat(from)).isDirectory();
          const target = !isDirectory && isDirectoryDest ? path.join(into, path.basename(from)) : into;
          await mkdir(path.dirname(target), { recursive: true });
          await cp(from, target, { recursive: true });
        }
      } else if (keyword === 'RUN') {
        console.log(`RUN ${args}`);
        const result = spawnSync('sh', ['-c', args], {
          cwd: current.dir,
          env: runEnv(current.env),
          stdio: 'inherit',
        });
        check(result.status === 0, `${where} exited with ${result.status}`);
      } else if (keyword === 'ENV') {
        Object.assign(current.env, parseEnv(args));
      } else if (keyword === 'USER') {
        current.user = args;
      } else if (keyword === 'CMD') {
        current.cmd = execForm(args);
      } else if (keyword === 'HEALTHCHECK') {
        const command = /^CMD\s+(.*)$/.exec(args);
        check(command?.[1], `${where}: only HEALTHCHECK [options] CMD [...] is replayed`);
        healthcheck = execForm(command[1]);
      } else {
        check(
          keyword === 'EXPOSE' || keyword === 'ARG' || keyword === 'LABEL',
          `${where}: not replayed here`,
        );
      }
    }
  }
  check(current?.cmd, 'the last stage has no CMD');
  check(healthcheck, 'the Dockerfile has no HEALTHCHECK');
  check(
    current.user && !['root', '0'].includes(current.user.split(':')[0] ?? ''),
    'the runtime runs as root',
  );
  return { runtime: current, healthcheck };
}
