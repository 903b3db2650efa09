import { type Config, ConfigError, loadConfig } from '../config.js';
import { createDatabase, type Database } from '../db/database.js';
import { migrateDatabase } from '../db/migrate.js';
import type { Principal } from '../shared/access.js';
import { AppError } from '../shared/errors.js';
import { startupProblem } from '../startup.js';

// Recorded as the author in the audit trail: changes made from a shell, not through the API.
export const OPERATOR: Principal = { keyId: 'cli', client: 'operator', scopes: ['admin'] };

/** Where a command line tool writes: its results, and its messages to the operator. */
export type Output = { out: (text: string) => void; err: (text: string) => void };

/**
 * The start every operator command shares: `--help` (the usage, exit code 0); the configuration and the
 * arguments (exit code 2, with the usage when the arguments are wrong); then the configured database,
 * migrated (exit code 1, with one line that says why, when it cannot be opened).
 */
export async function openCommand<Parsed>(
  argv: string[],
  env: NodeJS.ProcessEnv,
  output: Output,
  usage: string,
  parse: (argv: string[]) => Parsed,
): Promise<{ config: Config; parsed: Parsed; database: Database } | number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    output.out(`${usage}\n`);
    return 0;
  }
  let config: Config;
  let parsed: Parsed;
  try {
    config = loadConfig(env);
    parsed = parse(argv);
  } catch (error) {
    output.err(`${(error as Error).message}\n${error instanceof ConfigError ? '' : usage}\n`);
    return 2;
  }
  let database: Database | undefined;
  try {
    database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
    await migrateDatabase(database, { url: config.databaseUrl });
    return { config, parsed, database };
  } catch (error) {
    await database?.close();
    return reportFailure(error, output);
  }
}

/** A refusal or an unreachable database as one line to the operator, exit code 1; anything else is thrown. */
export function reportFailure(error: unknown, output: Output): number {
  const problem = startupProblem(error);
  if (problem !== undefined) {
    output.err(`${problem}\n`);
    return 1;
  }
  if (!(error instanceof AppError)) throw error;
  const fields = (error.errors ?? []).map((field) => ` (${field.path.slice(1)}: ${field.message})`).join('');
  output.err(`${error.detail}${fields}\n`);
  return 1;
}

/** Runs a command line tool as the process's main module, with its exit code. */
export async function runAsMain(
  run: (argv: string[], env: NodeJS.ProcessEnv, output: Output) => Promise<number>,
): Promise<void> {
  const write = (stream: NodeJS.WriteStream) => (text: string) => stream.write(text);
  process.exitCode = await run(process.argv.slice(2), process.env, {
    out: write(process.stdout),
    err: write(process.stderr),
  });
}
