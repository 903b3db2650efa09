import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type Built, build, check, containerNode, containerPath, runEnv } from './docker-replay.js';
import { copyContext, parseDockerfile } from './dockerfile.js';

// The Dockerfile, replayed in a temporary directory where Docker cannot run (.ci/run): the context as
// .dockerignore filters it, each stage's COPY and RUN, then the runtime stage's CMD, HEALTHCHECK and
// the migration job's command, checked the way the deploy checks a new revision.

const ROOT = path.resolve(import.meta.dirname, '..');
const MIGRATE = ['node', 'dist/db/migrate-cli.js'];
const APIKEY = ['node', 'dist/cli/apikey.js'];
const SIGTERM_BUDGET_MS = 10_000;
const started = Date.now();

const log = (message: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** A command of the image, as the container runs it: `node` is the image's (CONTAINER_NODE), the cwd WORKDIR. */
function start(
  runtime: Built,
  command: string[],
  env: Record<string, string>,
): ChildProcess & { output: () => string } {
  const [program, ...args] = command;
  const child = spawn(program === 'node' ? containerNode : String(program), args, {
    cwd: runtime.dir,
    env: { PATH: containerPath, ...runtime.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => (output += chunk));
  return Object.assign(child, { output: () => output });
}

async function run(runtime: Built, command: string[], env: Record<string, string>): Promise<string> {
  const child = start(runtime, command, env);
  const [code] = await once(child, 'exit');
  check(code === 0, `${command.join(' ')} exited with ${code}:\n${child.output()}`);
  return child.output();
}

async function serve(runtime: Built, env: Record<string, string>) {
  const port = await freePort();
  const server = start(runtime, runtime.cmd ?? [], { ...env, PORT: String(port), HOST: '127.0.0.1' });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    check(server.exitCode === null, `the server exited with ${server.exitCode}:\n${server.output()}`);
    const status = await fetch(`${base}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) break;
    check(Date.now() < deadline, `/readyz did not answer 200 within 60 s:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { server, port, base };
}

async function stop(server: ChildProcess & { output: () => string }) {
  const sent = Date.now();
  server.kill('SIGTERM');
  const [code] = await once(server, 'exit');
  const tookMs = Date.now() - sent;
  check(
    code === 0 && tookMs < SIGTERM_BUDGET_MS,
    `SIGTERM: exit ${code} after ${tookMs} ms:\n${server.output()}`,
  );
  log(`SIGTERM: exit 0 after ${tookMs} ms`);
}

const work = await mkdtemp(path.join(tmpdir(), 'container-smoke-'));
const databaseUrl = process.env.TEST_DATABASE_URL;
const schema = `container_smoke_${randomBytes(6).toString('hex')}`;
const admin = async (sql: string) => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(sql).finally(() => client.end());
};
try {
  const files = await copyContext(ROOT, path.join(work, 'context'));
  for (const ignored of ['node_modules/', '.git/', 'dist/', 'coverage/', '.env', '.data/']) {
    check(!files.some((file) => file.startsWith(ignored)), `.dockerignore lets ${ignored} into the context`);
  }
  log(`context: ${files.length} files`);
  const stages = parseDockerfile(await readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const { runtime, healthcheck } = await build(stages, path.join(work, 'context'), work);

  const manifest = JSON.parse(await readFile(path.join(runtime.dir, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  const installed = (name: string) =>
    access(path.join(runtime.dir, 'node_modules', name)).then(
      () => true,
      () => false,
    );
  // A dev dependency may stay only as a dependency of a production package (yaml, for @fastify/swagger).
  const production = spawnSync('npm', ['ls', '--all', '--omit=dev', '--parseable'], {
    cwd: runtime.dir,
    env: runEnv({}),
    encoding: 'utf8',
  });
  check(production.status === 0, `npm ls --omit=dev failed in the image:\n${production.stderr}`);
  const productionPaths = new Set(production.stdout.split('\n'));
  for (const name of Object.keys(manifest.devDependencies)) {
    const isNeeded = productionPaths.has(path.join(runtime.dir, 'node_modules', name));
    check(isNeeded || !(await installed(name)), `dev dependency ${name} is in the image`);
  }
  for (const name of Object.keys(manifest.dependencies))
    check(await installed(name), `dependency ${name} is missing`);
  check(!(await installed('.bin/tsx')), 'tsx is in the image');
  check(
    !(await access(path.join(runtime.dir, 'src')).then(
      () => true,
      () => false,
    )),
    'src/ is in the image',
  );
  log('runtime: production dependencies only, no TypeScript sources');

  const env: Record<string, string> = {
    ADMIN_API_KEY: `smoke-${randomBytes(24).toString('hex')}`,
    LOG_LEVEL: 'warn',
  };
  if (databaseUrl) {
    await admin(`create schema ${schema}`);
    const separator = databaseUrl.includes('?') ? '&' : '?';
    env.DATABASE_URL = `${databaseUrl}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    if (process.env.TEST_REDIS_URL)
      Object.assign(env, { REDIS_URL: process.env.TEST_REDIS_URL, REDIS_PREFIX: `${schema}:` });
  } else {
    env.DATA_DIR = path.join(work, 'data');
  }
  log(
    `database: ${databaseUrl ? `PostgreSQL, schema ${schema}${env.REDIS_URL ? ', with Redis' : ''}` : 'PGlite'}`,
  );

  check(
    (await run(runtime, MIGRATE, env)).includes('schema is up to date'),
    'the migration job did not finish',
  );
  log(`migration job: ${MIGRATE.join(' ')} exit 0`);
  const created = await run(
    runtime,
    [...APIKEY, 'create', '--name', 'deploy-smoke', '--scopes', 'catalog:read'],
    env,
  );
  const reader = (JSON.parse(created.split('\n')[0] ?? '') as { key: string }).key;
  log(`operator CLI: ${APIKEY.join(' ')} create exit 0`);

  const first = await serve(runtime, env);
  log(`${runtime.cmd?.join(' ')}: /readyz 200 on port ${first.port}`);
  await run(runtime, healthcheck, { PORT: String(first.port) });
  log('HEALTHCHECK: exit 0');
  const catalog = await fetch(`${first.base}/CompanyProducts`, {
    headers: { authorization: `Bearer ${reader}` },
  });
  check(
    catalog.status === 200 && Array.isArray(await catalog.json()),
    `GET /CompanyProducts answered ${catalog.status}`,
  );
  check(
    (await fetch(`${first.base}/CompanyProducts`)).status === 401,
    'GET /CompanyProducts without a key was not 401',
  );
  log('GET /CompanyProducts: 200 with a catalog:read key, 401 without');

  if (env.REDIS_URL) {
    // A second instance on the same PostgreSQL and Redis: a key made on one works on the other, and its
    // revocation on the first is refused on the second at once.
    const second = await serve(runtime, env);
    const asAdmin = { authorization: `Bearer ${env.ADMIN_API_KEY}`, 'content-type': 'application/json' };
    const made = await fetch(`${first.base}/ApiKeys`, {
      method: 'POST',
      headers: asAdmin,
      body: JSON.stringify({ name: 'scale-out', scopes: ['catalog:read'] }),
    });
    const { id, key } = (await made.json()) as { id: string; key: string };
    const readOnSecond = () =>
      fetch(`${second.base}/CompanyProducts`, { headers: { authorization: `Bearer ${key}` } }).then(
        (r) => r.status,
      );
    check((await readOnSecond()) === 200, 'a key made on one instance is refused on the other');
    const revoked = await fetch(`${first.base}/ApiKeys?id=${id}`, {
      method: 'DELETE',
      headers: { authorization: asAdmin.authorization },
    });
    const afterRevocation = await readOnSecond();
    check(
      revoked.status === 204 && afterRevocation === 401,
      `DELETE /ApiKeys answered ${revoked.status}, then the other instance ${afterRevocation}`,
    );
    log('two instances: a key made on one serves on the other; revoked on one, refused on the other');
    await stop(second.server);
  }
  await stop(first.server);
  log('container smoke: passed');
} finally {
  if (databaseUrl) await admin(`drop schema if exists ${schema} cascade`).catch(() => {});
  await rm(work, { recursive: true, force: true });
}
