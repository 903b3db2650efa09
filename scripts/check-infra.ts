import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

// Offline checks of the deployment files, for .ci/run where neither Terraform nor Docker can run:
// infra/*.tf parse as HCL and are laid out as hclwrite.Format (the formatter `terraform fmt` is built on)
// would write them, and declare what docs/deploy.md promises; docker-compose.yml has the stack it documents.

const ROOT = path.resolve(import.meta.dirname, '..');
// Loaded untyped: their typings pull the DOM library into the whole program.
const require = createRequire(import.meta.url);
const hcl2json = require('@cdktf/hcl2json') as {
  parse(filename: string, contents: string): Promise<Record<string, Record<string, Record<string, unknown>>>>;
};
const hclTools = require('@cdktf/hcl-tools') as { format(contents: string): Promise<string> };

const REQUIRED_RESOURCES = [
  'google_artifact_registry_repository',
  'google_cloud_run_v2_service',
  'google_cloud_run_v2_job',
  'google_sql_database_instance',
  'google_redis_instance',
  'google_secret_manager_secret',
  'google_service_account',
  'google_iam_workload_identity_pool',
  'google_iam_workload_identity_pool_provider',
];
const REQUIRED_VARIABLES = ['project_id', 'region'];

const problems: string[] = [];
const fail = (problem: string) => problems.push(problem);

function firstDifference(actual: string, expected: string): string {
  const [a, b] = [actual.split('\n'), expected.split('\n')];
  const line = a.findIndex((text, index) => text !== b[index]);
  return `line ${line + 1}: ${JSON.stringify(a[line])}, formatted: ${JSON.stringify(b[line])}`;
}

const infra = path.join(ROOT, 'infra');
const files = (await readdir(infra)).filter((name) => name.endsWith('.tf')).sort();
const resources = new Set<string>();
const variables = new Set<string>();
for (const name of files) {
  const text = await readFile(path.join(infra, name), 'utf8');
  try {
    const parsed = await hcl2json.parse(name, text);
    for (const type of Object.keys(parsed.resource ?? {})) resources.add(type);
    for (const variable of Object.keys(parsed.variable ?? {})) variables.add(variable);
  } catch (error) {
    fail(`infra/${name}: ${(error as Error).message}`);
    continue;
  }
  const formatted = await hclTools.format(text);
  if (formatted !== text) fail(`infra/${name} is not formatted, ${firstDifference(text, formatted)}`);
}
for (const type of REQUIRED_RESOURCES) if (!resources.has(type)) fail(`infra/ declares no ${type}`);
for (const variable of REQUIRED_VARIABLES)
  if (!variables.has(variable)) fail(`infra/ has no variable ${variable}`);
if (resources.has('google_service_account_key')) {
  fail('infra/ makes a service account key; deploys authenticate by Workload Identity Federation');
}
console.log(
  `terraform: ${files.length} files checked (HCL syntax, hclwrite layout), ${resources.size} resource types`,
);

type Service = {
  image?: string;
  build?: unknown;
  healthcheck?: { test?: unknown };
  depends_on?: Record<string, { condition?: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
};
const compose = parseYaml(await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services ?? {};
const { api, postgres, redis } = services;
if (!api?.build) fail('docker-compose.yml: the api service is not built from the Dockerfile');
if (!/^postgres:15\b/.test(postgres?.image ?? '')) fail('docker-compose.yml: postgres is not PostgreSQL 15');
if (!/^redis:7\b/.test(redis?.image ?? '')) fail('docker-compose.yml: redis is not Redis 7');
for (const [name, service] of Object.entries({ postgres, redis })) {
  if (!service?.healthcheck?.test) fail(`docker-compose.yml: ${name} has no health check`);
  if (api?.depends_on?.[name]?.condition !== 'service_healthy') {
    fail(`docker-compose.yml: api does not wait for ${name} to be healthy`);
  }
}
if (!api?.environment?.DATABASE_URL?.includes('@postgres:'))
  fail('docker-compose.yml: api does not use postgres');
if (!api?.environment?.REDIS_URL?.includes('//redis:')) fail('docker-compose.yml: api does not use redis');
const volume = postgres?.volumes?.[0]?.split(':')[0] ?? '';
if (!(volume in (compose.volumes ?? {})))
  fail('docker-compose.yml: postgres keeps its data in no named volume');
console.log(`docker compose: checked services ${Object.keys(services).join(', ')}`);

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  process.exit(1);
}
